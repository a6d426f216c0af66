package database

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
)

// dialects are the folders a migration may be split into.
var dialects = []Dialect{SQLite, Postgres}

// migrationRoot returns the folder holding the files: migrations/ when fsys
// has one, else fsys itself.
func migrationRoot(fsys fs.FS) fs.FS {
	if st, err := fs.Stat(fsys, "migrations"); err == nil && st.IsDir() {
		if sub, err := fs.Sub(fsys, "migrations"); err == nil {
			return sub
		}
	}
	return fsys
}

// versions maps each migration version in dir to its file name.
func versions(root fs.FS, dir string) (map[int64]string, error) {
	entries, err := fs.ReadDir(root, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int64]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("%s: name must start with a version number and _", path.Join(dir, e.Name()))
		}
		if prev, dup := out[v]; dup {
			return nil, fmt.Errorf("%s and %s: version %d twice", path.Join(dir, prev), path.Join(dir, e.Name()), v)
		}
		out[v] = e.Name()
	}
	return out, nil
}

// CheckMigrations reports every way fsys breaks the dialect rule (see
// Store.Migrate): a version in one dialect folder must be in the other too,
// and at least one migration must exist.
func CheckMigrations(fsys fs.FS) error {
	root := migrationRoot(fsys)
	portable, err := versions(root, ".")
	if err != nil {
		return err
	}
	per := map[Dialect]map[int64]string{}
	for _, d := range dialects {
		if per[d], err = versions(root, string(d)); err != nil {
			return err
		}
	}
	var errs []error
	total := len(portable)
	for _, d := range dialects {
		for v, name := range per[d] {
			if _, ok := portable[v]; !ok {
				total++
			}
			for _, other := range dialects {
				if _, ok := per[other][v]; !ok && other != d {
					errs = append(errs, fmt.Errorf("%s/%s: version %d has no %s/ file (a version differs per dialect in every dialect, or is portable at the root)",
						d, name, v, other))
				}
			}
		}
	}
	if total == 0 {
		errs = append(errs, errors.New("no migrations"))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// dialectFiles returns the migrations for dialect d at the root of an
// in-memory folder: the portable files, with the dialect folder's versions
// replacing or adding to them. The files are small SQL scripts, so reading
// them once is cheaper than an overlay file system.
func dialectFiles(fsys fs.FS, d Dialect) (fs.FS, error) {
	if err := CheckMigrations(fsys); err != nil {
		return nil, err
	}
	root := migrationRoot(fsys)
	chosen := map[int64]string{}
	portable, _ := versions(root, ".")
	for v, name := range portable {
		chosen[v] = name
	}
	own, _ := versions(root, string(d))
	for v, name := range own {
		chosen[v] = path.Join(string(d), name)
	}
	out := fstest.MapFS{}
	for _, p := range chosen {
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return nil, err
		}
		out[path.Base(p)] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	return out, nil
}
