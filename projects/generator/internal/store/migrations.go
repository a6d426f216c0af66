package store

import "io/fs"

// subFS roots the migrations at their folder: goose reads files at the root.
func subFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}
