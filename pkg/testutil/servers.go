package testutil

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // pgx driver for the admin connection
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// PostgresURL returns the URL of the local PostgreSQL server
// (PHOENIX_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).
// When the server is absent the test is skipped, except in CI, where it fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PHOENIX_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	requireTCP(t, "PostgreSQL", hostOf(u, "127.0.0.1:5432"))
	return u
}

// FreshPostgres creates an empty database for one test and drops it after.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	admin := PostgresURL(t)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer db.Close()
	name := fmt.Sprintf("phoenix_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return replaceDB(admin, name)
}

// NATSURL returns the URL of the local NATS server with JetStream
// (PHOENIX_TEST_NATS_URL, default nats://127.0.0.1:4222); skipped when absent
// outside CI.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PHOENIX_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	requireTCP(t, "NATS", strings.TrimPrefix(u, "nats://"))
	return u
}

// RedisAddr returns the local Redis address (PHOENIX_TEST_REDIS_ADDR, default
// 127.0.0.1:6379); skipped when absent outside CI.
func RedisAddr(t testing.TB) string {
	t.Helper()
	a := os.Getenv("PHOENIX_TEST_REDIS_ADDR")
	if a == "" {
		a = "127.0.0.1:6379"
	}
	requireTCP(t, "Redis", a)
	return a
}

func requireTCP(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if InCI() {
			t.Fatalf("%s at %s is required in CI: %v", what, addr, err)
		}
		t.Skipf("%s at %s not reachable: %v", what, addr, err)
	}
	c.Close()
}

func hostOf(u, def string) string {
	s := u[strings.Index(u, "://")+3:]
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return def
	}
	if !strings.Contains(s, ":") {
		s += ":5432"
	}
	return s
}

func replaceDB(u, name string) string {
	scheme := u[:strings.Index(u, "://")+3]
	rest := u[len(scheme):]
	q := ""
	if i := strings.Index(rest, "?"); i >= 0 {
		q = rest[i:]
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + rest + "/" + name + q
}

// PostgresReachable reports whether the local PostgreSQL answers, for suites
// that run against several backends and only drop the PostgreSQL leg. In CI
// it always reports true so the leg runs (and fails loudly if it must).
func PostgresReachable() bool {
	if InCI() {
		return true
	}
	u := os.Getenv("PHOENIX_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://127.0.0.1:5432"
	}
	c, err := net.DialTimeout("tcp", hostOf(u, "127.0.0.1:5432"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// NATSReachable reports whether the local NATS server answers (always true
// in CI, so the leg runs there).
func NATSReachable() bool {
	if InCI() {
		return true
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// PrivateNATS starts a NATS server with JetStream for one test, on a free
// TCP port, and returns its URL. Tests that run Phoenix services in the
// distributed way need one: services answer on the fixed subjects
// phoenix.<service>.<operation>, so two test processes on the machine's
// shared server (go test runs packages in parallel) would answer each
// other's requests from different databases. It is the same server code
// the machine runs, reached over TCP exactly as a deployment reaches its
// own.
func PrivateNATS(t testing.TB) string {
	t.Helper()
	opts := &natsserver.Options{
		ServerName: "phoenix-test",
		Host:       "127.0.0.1",
		Port:       -1, // a free port
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats server not ready after 10s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv.ClientURL()
}
