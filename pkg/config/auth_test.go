package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestAuthValidation(t *testing.T) {
	cfg := DefaultServer()
	b := Bind(pflag.NewFlagSet("t", pflag.ContinueOnError), &cfg)
	if err := b.Load("testdata/auth-invalid.yaml"); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid auth section accepted")
	}
	for _, want := range []string{"redis_url", "auth.issuer", "auth.access_token_ttl", "auth.refresh_token_ttl",
		"auth.rate_limit_read", `"dash.example.com" is not an origin`, `"10.0.0.0/33" is not a CIDR`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ok.example.com") {
		t.Errorf("a valid origin was reported: %v", err)
	}
}

func TestDevImpliesOpenIngestAndSecretsFromEnv(t *testing.T) {
	t.Setenv("PHOENIX_SECRET_KEY", "c2VjcmV0")
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", "from-the-environment")
	cfg := DefaultServer()
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.IngestOpen {
		t.Fatal("ingest open without --dev")
	}
	if cfg.Auth.SecretKey != "c2VjcmV0" || cfg.Auth.BootstrapAdminPassword != "from-the-environment" {
		t.Fatalf("secrets not read from the environment: %+v", cfg.Auth)
	}
	cfg.Dev = true
	if err := cfg.Validate(); err != nil || !cfg.Auth.IngestOpen {
		t.Fatalf("--dev did not open ingest: %v", err)
	}
	// The bootstrap password is never a flag.
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Bind(fs, &cfg)
	if fs.Lookup("auth-bootstrap-admin-password") != nil || fs.Lookup("auth-secret-key") != nil {
		t.Fatal("a secret is exposed as a flag")
	}
}
