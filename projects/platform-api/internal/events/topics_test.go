package events

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
)

// TestPublishedKinds keeps PublishedKinds honest: it is exactly the set of
// kinds the services pass to PublishEvent. When a service starts publishing
// a kind (the controller's experiments, the anomaly-detector's alerts), this
// fails until the WebSocket offers its topic.
func TestPublishedKinds(t *testing.T) {
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	names := map[string]string{
		"KindRollup": messaging.KindRollup, "KindExperiment": messaging.KindExperiment, "KindAlert": messaging.KindAlert,
		"KindAgent": messaging.KindAgent, "KindPipeline": messaging.KindPipeline, "KindAdaptive": messaging.KindAdaptive,
		"KindRollout": messaging.KindRollout,
	}
	// PublishEvent(ctx, messaging.KindX, ...), or a message built on
	// messaging.EventSubject(messaging.KindX, ...) (the experiment runner
	// publishes with a deduplication id).
	call := regexp.MustCompile(`(?:PublishEvent\(\s*\w+,\s*|EventSubject\()messaging\.(Kind\w+)`)
	found := map[string]bool{}
	err = filepath.WalkDir(filepath.Join(root, "projects"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "collector" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			kind, ok := names[string(m[1])]
			if !ok {
				t.Errorf("%s publishes messaging.%s, unknown to this test", path, m[1])
				continue
			}
			found[kind] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range found {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(PublishedKinds))
	if !slices.Equal(got, want) {
		t.Fatalf("services publish %v, PublishedKinds says %v", got, want)
	}
}

// TestAuthorizeTopics: only topics of published kinds are offered; per-id
// topics go to the Authorizer with their kind and id.
func TestAuthorizeTopics(t *testing.T) {
	var asked []string
	h := &Hub{s: Settings{Authorize: func(_ context.Context, _ apiv1.Principal, kind, id string) error {
		asked = append(asked, kind+"/"+id)
		if id == "hidden" {
			return ErrTopic
		}
		return nil
	}}}
	for _, tt := range []struct {
		topic, wantErr, wantAsked string
	}{
		{topic: "agents"},
		{topic: "stream:s1", wantAsked: "stream/s1"},
		{topic: "stream:exp-1--candidate", wantAsked: "stream/exp-1--candidate"},
		{topic: "stream:hidden", wantErr: "topic not found", wantAsked: "stream/hidden"},
		{topic: "experiments"},
		{topic: "experiment:e1", wantAsked: "experiment/e1"},
		{topic: "experiment:hidden", wantErr: "topic not found", wantAsked: "experiment/hidden"},
		{topic: "alerts"},
		{topic: "rollouts"},
		{topic: "rollouts:x", wantErr: "unknown topic"},
		{topic: "everything", wantErr: "unknown topic: want one of experiments, experiment:<id>, alerts, stream:<id>, agents, rollouts"},
		{topic: "stream:a.b", wantErr: "unknown topic"},
		{topic: "stream:", wantErr: "unknown topic"},
		{topic: "agents:x", wantErr: "unknown topic"},
		{topic: "", wantErr: "unknown topic"},
	} {
		asked = nil
		err := h.authorize(context.Background(), apiv1.Principal{Subject: "ann", Role: "viewer"}, tt.topic)
		if tt.wantErr == "" && err != nil {
			t.Errorf("%q: %v", tt.topic, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%q: error %v, want %q", tt.topic, err, tt.wantErr)
		}
		if strings.Join(asked, ",") != tt.wantAsked {
			t.Errorf("%q: asked %v, want %q", tt.topic, asked, tt.wantAsked)
		}
	}
}
