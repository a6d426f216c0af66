package store

import "io/fs"

// Migrations are the generator's tables (portable SQL), for the service
// registry.
func Migrations() fs.FS { return migrations }
