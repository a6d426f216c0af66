package gateway

import "io/fs"

// Migrations are the gateway's tables, for the service registry: they differ
// per dialect, so they live in sqlite/ and postgres/ (pkg/database's rule).
func Migrations() fs.FS { return migrationsFS }

func fsSub(f fs.FS, dir string) (fs.FS, error) { return fs.Sub(f, dir) }
