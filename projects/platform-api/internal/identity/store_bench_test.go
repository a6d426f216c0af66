package identity

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

// BenchmarkStoreWrites measures the SQLite writes behind the bench-api write
// route: create an API key, then revoke it.
func BenchmarkStoreWrites(b *testing.B) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("k%d", i)
		i++
		if err := s.CreateAPIKey(ctx, APIKey{ID: id, Name: "n", Hash: "h", Role: "viewer", Scopes: []string{"read"}, CreatedBy: "a", CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if err := s.RevokeAPIKey(ctx, id, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
