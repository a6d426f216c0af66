package apiv1

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// item is one element of the in-memory list the paginator tests page
// through, in list order: ids 1..n.
type item struct {
	ID int `json:"id"`
}

func itemCursor(it item) string { return strconv.Itoa(it.ID) }

func items(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{ID: i + 1}
	}
	return out
}

// fetchFrom is a Fetch over all; it records the n it was asked for.
func fetchFrom(all []item, asked *int) Fetch[item] {
	return func(_ context.Context, _ *Request, cursor string, n int) ([]item, error) {
		*asked = n
		return After(all, cursor, n, itemCursor)
	}
}

func TestPaginate(t *testing.T) {
	cases := []struct {
		name      string
		total     int
		query     url.Values
		wantIDs   []int
		wantNext  string // "" = null
		wantAsked int
		wantField string // a 400 naming this field
	}{
		{name: "default limit 50 over 120", total: 120, wantIDs: seq(1, 50), wantNext: "50", wantAsked: 51},
		{name: "limit 3", total: 7, query: url.Values{"limit": {"3"}}, wantIDs: seq(1, 3), wantNext: "3", wantAsked: 4},
		{name: "second page", total: 7, query: url.Values{"limit": {"3"}, "cursor": {"3"}}, wantIDs: seq(4, 6), wantNext: "6", wantAsked: 4},
		{name: "last page is short", total: 7, query: url.Values{"limit": {"3"}, "cursor": {"6"}}, wantIDs: seq(7, 7), wantAsked: 4},
		{name: "page ends exactly at the end", total: 6, query: url.Values{"limit": {"3"}, "cursor": {"3"}}, wantIDs: seq(4, 6), wantAsked: 4},
		{name: "empty list", total: 0, wantIDs: []int{}, wantAsked: 51},
		{name: "max limit 500", total: 600, query: url.Values{"limit": {"500"}}, wantIDs: seq(1, 500), wantNext: "500", wantAsked: 501},
		{name: "limit over 500", total: 7, query: url.Values{"limit": {"501"}}, wantField: "limit"},
		{name: "limit 0", total: 7, query: url.Values{"limit": {"0"}}, wantField: "limit"},
		{name: "limit not a number", total: 7, query: url.Values{"limit": {"ten"}}, wantField: "limit"},
		{name: "unknown cursor", total: 7, query: url.Values{"cursor": {"99"}}, wantField: "cursor", wantAsked: 51},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked := 0
			out, err := Paginate(context.Background(), &Request{Query: c.query}, fetchFrom(items(c.total), &asked), itemCursor)
			if asked != c.wantAsked {
				t.Errorf("fetch asked for %d items, want %d", asked, c.wantAsked)
			}
			if c.wantField != "" {
				var p *problem.Error
				if !errors.As(err, &p) || p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Path != c.wantField {
					t.Fatalf("got %v, want a 400 naming %s", err, c.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Encode as the service does: items is [] (never null) and
			// next_cursor is null on the last page.
			raw, _ := json.Marshal(out)
			var got struct {
				Items      []item  `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(raw, &got); err != nil || got.Items == nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			if len(got.Items) != len(c.wantIDs) {
				t.Fatalf("got %d items, want %d", len(got.Items), len(c.wantIDs))
			}
			for i, id := range c.wantIDs {
				if got.Items[i].ID != id {
					t.Fatalf("item %d is %d, want %d", i, got.Items[i].ID, id)
				}
			}
			next := ""
			if got.NextCursor != nil {
				next = *got.NextCursor
			}
			if next != c.wantNext {
				t.Errorf("next_cursor %q, want %q", next, c.wantNext)
			}
		})
	}
}

// TestPaginateWalksEverything: following next_cursor visits every item once.
func TestPaginateWalksEverything(t *testing.T) {
	for _, total := range []int{0, 1, 4, 5, 9} {
		for _, limit := range []int{1, 2, 5} {
			all, asked := items(total), 0
			seen, cursor := 0, ""
			for pages := 0; ; pages++ {
				if pages > total+1 {
					t.Fatalf("total %d limit %d: does not end", total, limit)
				}
				q := url.Values{"limit": {strconv.Itoa(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				out, err := Paginate(context.Background(), &Request{Query: q}, fetchFrom(all, &asked), itemCursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range out.Items {
					if seen++; it.ID != seen {
						t.Fatalf("total %d limit %d: item %d after %d", total, limit, it.ID, seen-1)
					}
				}
				if out.NextCursor == nil {
					break
				}
				cursor = *out.NextCursor
			}
			if seen != total {
				t.Errorf("total %d limit %d: saw %d", total, limit, seen)
			}
		}
	}
}

func seq(from, to int) []int {
	out := []int{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestOperationsOverNATS: a handler table served through the adapter on a
// real in-process NATS answers on Subject(service, operationId), sees the
// envelope's parameters, caller and body, and its problems keep their status.
func TestOperationsOverNATS(t *testing.T) {
	ctx := context.Background()
	bus, err := messaging.Connect(ctx, messaging.Settings{DataDir: t.TempDir(), Name: "apiv1-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	type echo struct {
		ID, Q, Subject string
		Body           map[string]string
	}
	ops := Operations{
		"getThing": func(_ context.Context, req *Request) (any, error) {
			if req.Params["id"] == "missing" {
				return nil, problem.NotFound("thing %s not found", req.Params["id"])
			}
			return echo{ID: req.Params["id"], Q: req.Query.Get("q"), Subject: req.Principal.Subject}, nil
		},
		"createThing": func(_ context.Context, req *Request) (any, error) {
			var b map[string]string
			if err := req.DecodeBody(&b); err != nil {
				return nil, err
			}
			return messaging.StatusReply{Status: http.StatusCreated, Body: echo{Body: b}}, nil
		},
		"listThings": ListOf(fetchFrom(items(5), new(int)), itemCursor),
		"panics":     func(context.Context, *Request) (any, error) { panic("boom") },
	}
	svc, err := bus.AddService(messaging.ServiceConfig{Name: "apiv1-test", Version: "0.0.1", Endpoints: ops.Endpoints("things")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })

	caller := Principal{Subject: "alice", Role: "viewer"}
	cases := []struct {
		name, op   string
		req        any
		wantStatus int
		wantBody   string
	}{
		{"params, query and caller", "getThing", Request{Params: map[string]string{"id": "t1"}, Query: url.Values{"q": {"x"}}, Principal: caller},
			200, `{"ID":"t1","Q":"x","Subject":"alice","Body":null}`},
		{"a problem keeps its status", "getThing", Request{Params: map[string]string{"id": "missing"}}, 404, ""},
		{"body and status reply", "createThing", Request{Body: json.RawMessage(`{"name":"n"}`)}, 201, `{"ID":"","Q":"","Subject":"","Body":{"name":"n"}}`},
		{"a body of the wrong shape is 400", "createThing", Request{Body: json.RawMessage(`{"name":1}`)}, 400, ""},
		{"list contract", "listThings", Request{Query: url.Values{"limit": {"2"}}}, 200, `{"items":[{"id":1},{"id":2}],"next_cursor":"2"}`},
		{"malformed envelope is 400", "getThing", json.RawMessage(`{"params":"not an object"}`), 400, ""},
		{"a panic is a 500", "panics", Request{}, 500, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, raw, err := bus.RequestRaw(ctx, "phoenix.things.rest."+c.op, c.req)
			if err != nil {
				status = problem.From(err).Status
			}
			if status != c.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, err, c.wantStatus)
			}
			if c.wantBody != "" && string(raw) != c.wantBody {
				t.Fatalf("body %s, want %s", raw, c.wantBody)
			}
		})
	}
	if got := ops.IDs(); len(got) != 4 || got[0] != "createThing" || got[3] != "panics" {
		t.Errorf("IDs() = %v", got)
	}
}
