package phoenixcli

import (
	"encoding/csv"
	"strings"
	"testing"
)

func TestAnomalyDetect(t *testing.T) {
	out, _, err := runCLI(t, "anomaly", "detect", "--input", "testdata/anomaly/spike.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	if got := strings.Join(rows[0], ","); got != "timestamp,value,anomaly_score,label" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != 1501 {
		t.Fatalf("%d data rows, want 1500", len(rows)-1)
	}
	var labelled []int
	for i, r := range rows[1:] {
		if r[3] == "1" {
			labelled = append(labelled, i)
		}
	}
	// The only anomaly is the spike at point 1200 of a daily-seasonal series.
	if len(labelled) != 1 || labelled[0] != 1200 {
		t.Errorf("labelled points %v, want [1200]", labelled)
	}
}

func TestAnomalyDetectErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"anomaly", "detect"}, "--input is required"},
		{"missing file", []string{"anomaly", "detect", "--input", "testdata/anomaly/nope.csv"}, "no such file"},
		{"bad value", []string{"anomaly", "detect", "--input", "testdata/anomaly/bad.csv"}, "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
