package phoenixcli

import (
	"sort"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// TestEveryOperationHasACommand compares api/openapi.yaml with the CLI:
// every operationId maps to a command that exists (operationCommands) or
// is listed without one, with a reason (operationsWithoutCommand); the
// tables name no operation the spec lacks.
func TestEveryOperationHasACommand(t *testing.T) {
	ops, err := apiv1.ParseSpec(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	root := NewRoot()
	inSpec := map[string]bool{}
	for _, op := range ops {
		id := op.OperationID
		inSpec[id] = true
		cmdPath, mapped := operationCommands[id]
		reason, exempt := operationsWithoutCommand[id]
		switch {
		case mapped && exempt:
			t.Errorf("operationId %s (%s) is in both operationCommands and operationsWithoutCommand (operations.go)", id, op.Key())
		case exempt && strings.TrimSpace(reason) == "":
			t.Errorf("operationId %s (%s): operationsWithoutCommand needs a reason", id, op.Key())
		case !mapped && !exempt:
			t.Errorf("operationId %s (%s) has no CLI command: add it to operationCommands in projects/phoenix-cli/operations.go "+
				"(or to operationsWithoutCommand with a reason)", id, op.Key())
		case mapped:
			words, flag := commandWords(cmdPath)
			c, rest, err := root.Find(words)
			if err != nil || len(rest) > 0 || !c.Runnable() {
				t.Errorf("operationId %s maps to `phoenix %s`, which is not a runnable command", id, cmdPath)
				continue
			}
			if flag != "" && c.Flags().Lookup(flag) == nil {
				t.Errorf("operationId %s maps to `phoenix %s`, which has no --%s", id, cmdPath, flag)
			}
		}
	}
	var stale []string
	for id := range operationCommands {
		if !inSpec[id] {
			stale = append(stale, id)
		}
	}
	for id := range operationsWithoutCommand {
		if !inSpec[id] {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		t.Errorf("operations.go names operationId %s, which api/openapi.yaml does not have", id)
	}
}

// commandWords splits "pipeline get --version" into its command words and
// its flag.
func commandWords(path string) ([]string, string) {
	var words []string
	flag := ""
	for _, w := range strings.Fields(path) {
		if strings.HasPrefix(w, "--") {
			flag = strings.TrimPrefix(w, "--")
			continue
		}
		words = append(words, w)
	}
	return words, flag
}
