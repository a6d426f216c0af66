package rollup

import "io/fs"

// Migrations are the analytics tables, for the service registry. The
// rollups table differs per dialect (BLOB/BYTEA, AUTOINCREMENT/BIGSERIAL),
// so its version lives in sqlite/ and postgres/ (pkg/database's rule).
func Migrations() fs.FS { return migrations }
