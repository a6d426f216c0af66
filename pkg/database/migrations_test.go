package database

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func sqlFile(s string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + s + "\n-- +goose Down\nSELECT 1;\n")}
}

func TestCheckMigrations(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string // fragments; none means valid
	}{
		{name: "portable only", fsys: fstest.MapFS{"migrations/00001_a.sql": sqlFile("SELECT 1;")}},
		{name: "dialect only, both dialects", fsys: fstest.MapFS{
			"migrations/sqlite/00001_a.sql": sqlFile("SELECT 1;"), "migrations/postgres/00001_a.sql": sqlFile("SELECT 1;")}},
		{name: "portable plus one version per dialect", fsys: fstest.MapFS{
			"migrations/00001_a.sql": sqlFile("SELECT 1;"), "migrations/sqlite/00002_b.sql": sqlFile("SELECT 2;"),
			"migrations/postgres/00002_b.sql": sqlFile("SELECT 2;")}},
		{name: "files at the root of fsys", fsys: fstest.MapFS{"00001_a.sql": sqlFile("SELECT 1;")}},
		{name: "a version in one dialect only", fsys: fstest.MapFS{
			"migrations/00001_a.sql": sqlFile("SELECT 1;"), "migrations/postgres/00002_b.sql": sqlFile("SELECT 2;")},
			want: []string{"postgres/00002_b.sql: version 2 has no sqlite/ file"}},
		{name: "a version twice", fsys: fstest.MapFS{
			"migrations/00001_a.sql": sqlFile("SELECT 1;"), "migrations/00001_b.sql": sqlFile("SELECT 1;")},
			want: []string{"version 1 twice"}},
		{name: "a name without a version", fsys: fstest.MapFS{"migrations/init.sql": sqlFile("SELECT 1;")},
			want: []string{"init.sql: name must start with a version number"}},
		{name: "nothing", fsys: fstest.MapFS{"migrations/README.md": &fstest.MapFile{}}, want: []string{"no migrations"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMigrations(tt.fsys)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid folder refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid folder accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestMigrateOverlaysDialect: a portable version applies everywhere, a
// version split per dialect applies the store's own file, and a dialect file
// replaces a portable one of the same version.
func TestMigrateOverlaysDialect(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/00001_items.sql":           sqlFile("CREATE TABLE items (id TEXT PRIMARY KEY);"),
		"migrations/00002_blob.sql":            sqlFile("CREATE TABLE wrong (id TEXT);"),
		"migrations/sqlite/00002_blob.sql":     sqlFile("CREATE TABLE blobs (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB);"),
		"migrations/postgres/00002_blob.sql":   sqlFile("CREATE TABLE blobs (id BIGSERIAL PRIMARY KEY, b BYTEA);"),
		"migrations/sqlite/00003_seq.sql":      sqlFile("CREATE TABLE seq_sqlite (id INTEGER);"),
		"migrations/postgres/00003_seq.sql":    sqlFile("CREATE TABLE seq_postgres (id BIGINT);"),
		"migrations/postgres/notes/README.txt": &fstest.MapFile{Data: []byte("ignored")},
	}
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			applied, err := s.Migrate(ctx, "overlay", fsys)
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != 3 {
				t.Fatalf("applied %v, want 3 versions", applied)
			}
			for _, table := range []string{"items", "blobs", "seq_" + name} {
				if _, err := s.DB.ExecContext(ctx, "SELECT COUNT(*) FROM "+table); err != nil {
					t.Errorf("table %s missing: %v", table, err)
				}
			}
			if _, err := s.DB.ExecContext(ctx, "SELECT COUNT(*) FROM wrong"); err == nil {
				t.Error("the portable file ran although the dialect replaces it")
			}
		})
	}
}

func TestMigrateRefusesBrokenRule(t *testing.T) {
	s := stores(t)["sqlite"]
	_, err := s.Migrate(context.Background(), "broken", fs.FS(fstest.MapFS{"migrations/sqlite/00001_a.sql": sqlFile("SELECT 1;")}))
	if err == nil || !strings.Contains(err.Error(), "has no postgres/ file") {
		t.Fatalf("got %v", err)
	}
}
