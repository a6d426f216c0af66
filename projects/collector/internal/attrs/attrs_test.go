package attrs

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func mapOf(t *testing.T, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestMapHashIdentity(t *testing.T) {
	tests := []struct {
		name  string
		a, b  map[string]any
		equal bool
	}{
		{"same pairs", map[string]any{"a": "1", "b": int64(2)}, map[string]any{"b": int64(2), "a": "1"}, true},
		{"int vs string", map[string]any{"a": "5"}, map[string]any{"a": int64(5)}, false},
		{"swapped values", map[string]any{"a": "x", "b": "y"}, map[string]any{"a": "y", "b": "x"}, false},
		{"subset", map[string]any{"a": "x"}, map[string]any{"a": "x", "b": "y"}, false},
		{"empty", map[string]any{}, map[string]any{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.equal, Map(mapOf(t, tt.a)) == Map(mapOf(t, tt.b)))
		})
	}
}

func TestRewriteHashMatchesApply(t *testing.T) {
	src := map[string]any{"host.name": "h1", "process.pid": int64(42), "process.executable.name": "java", "state": "user"}
	rewrites := []Rewrite{
		{},
		{Drop: NewSet("process.pid")},
		{Keep: NewSet("host.name")},
		{Keep: NewSet("host.name"), Replace: NewSet("process.pid", "process.executable.name"), ReplaceWith: "_other_"},
		{Replace: NewSet("process.pid"), ReplaceWith: "_other_"},
		{Keep: NewSet("state"), ExtraKey: "otel.metric.overflow"},
		{Keep: Set{}, ExtraKey: "otel.metric.overflow"},
	}
	for i, r := range rewrites {
		m := mapOf(t, src)
		dst := pcommon.NewMap()
		r.Apply(m, dst)
		require.Equal(t, Map(dst), r.Hash(m), "rewrite %d: %v", i, dst.AsRaw())
	}
}

func TestLookupOrder(t *testing.T) {
	res := mapOf(t, map[string]any{"k": "resource"})
	dp := mapOf(t, map[string]any{"k": "datapoint", "only": "dp"})
	v, ok := Lookup("k", res, dp)
	require.True(t, ok)
	require.Equal(t, "resource", v.Str())
	v, ok = Lookup("only", res, dp)
	require.True(t, ok)
	require.Equal(t, "dp", v.Str())
	_, ok = Lookup("missing", res, dp)
	require.False(t, ok)
}

// TestRewriteHashMemo checks that the pair memo never changes a hash: maps
// whose pairs share memo slots, repeated and interleaved, hash as a fresh
// Rewrite (empty memo) hashes them.
func TestRewriteHashMemo(t *testing.T) {
	maps := []map[string]any{
		{"state": "user"}, {"state": "system"}, {"state": "wait"},
		{"direction": "read"}, {"direction": "write"},
		{"state": "resu"}, {"etats": "user"}, // same lengths and edge bytes as state=user
		{"process.pid": "user"}, {"state": int64(7)}, {},
		{"state": "user", "direction": "read"},
	}
	mk := func() Rewrite {
		return Rewrite{Replace: NewSet("process.pid"), ReplaceWith: "_other_", Drop: NewSet("direction"), ExtraKey: "otel.metric.overflow"}
	}
	memo := mk()
	for round := range 3 {
		for i, raw := range maps {
			m := mapOf(t, raw)
			fresh := mk()
			dst := pcommon.NewMap()
			fresh.Apply(m, dst)
			require.Equal(t, Map(dst), memo.Hash(m), "round %d map %d %v", round, i, raw)
			require.Equal(t, fresh.Hash(m), memo.Hash(m), "round %d map %d %v", round, i, raw)
		}
	}
}
