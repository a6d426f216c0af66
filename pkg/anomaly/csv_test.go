package anomaly

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDetectCSVMatchesStreaming(t *testing.T) {
	xs := synth(1500, 48, 30, 1, func(i int) float64 {
		if i == 1200 {
			return 40
		}
		return 0
	})
	var in strings.Builder
	in.WriteString("timestamp,value\n")
	for i, x := range xs {
		fmt.Fprintf(&in, "%s,%s\n", t0.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), strconv.FormatFloat(x, 'g', -1, 64))
	}
	var out bytes.Buffer
	if err := DetectCSV(strings.NewReader(in.String()), &out, Settings{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "timestamp,value,anomaly_score,label" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != len(xs)+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(xs))
	}
	e, _ := New(Settings{})
	labelled := 0
	for i, x := range xs {
		r := e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
		row := rows[i+1]
		if want := strconv.FormatFloat(r.Score, 'f', 4, 64); row[2] != want {
			t.Fatalf("row %d: score %s, streaming %s", i, row[2], want)
		}
		if (row[3] == "1") != r.Label {
			t.Fatalf("row %d: label %s, streaming %v", i, row[3], r.Label)
		}
		if r.Label {
			labelled++
		}
	}
	if labelled == 0 || rows[1201][3] != "1" {
		t.Fatalf("the spike at row 1200 is not labelled (%d labels)", labelled)
	}
}

func TestDetectCSVInputForms(t *testing.T) {
	in := "\ufefftimestamp, value\r\n" +
		"2014-04-01 00:00:00,1\r\n" +
		"2014-04-01T00:05:00Z, 2.5\r\n" +
		"2014-04-01 00:10:00.000000,-3e2\r\n" +
		"1396311000,4\r\n"
	var out bytes.Buffer
	if err := DetectCSV(strings.NewReader(in), &out, Settings{}); err != nil {
		t.Fatal(err)
	}
	want := "timestamp,value,anomaly_score,label\n" +
		"2014-04-01 00:00:00,1,0.0000,0\n" +
		"2014-04-01T00:05:00Z,2.5,0.0000,0\n" +
		"2014-04-01 00:10:00.000000,-3e2,0.0000,0\n" +
		"1396311000,4,0.0000,0\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDetectCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty input"},
		{"no header", "2014-04-01 00:00:00,1\n", "line 1: header"},
		{"wrong header", "time,value\n", "line 1: header"},
		{"three fields", "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,1,2\n", "line 3: 3 fields"},
		{"one field", "timestamp,value\n2014-04-01 00:00:00\n", "line 2: 1 fields"},
		{"bad time", "timestamp,value\nyesterday,1\n", `line 2: timestamp "yesterday"`},
		{"bad value", "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,lots\n", `line 3: value "lots"`},
		{"bare quote", "timestamp,value\n2014-04-01 00:00:00,\"1\n", "line 2"},
		{"bad settings", "timestamp,value\n", "threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{}
			if tt.name == "bad settings" {
				s.Threshold = 7
			}
			err := DetectCSV(strings.NewReader(tt.in), &bytes.Buffer{}, s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// FuzzDetectCSV: no input panics; accepted input gives one row per data row,
// scores in [0,1] and labels 0 or 1.
func FuzzDetectCSV(f *testing.F) {
	f.Add("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n")
	f.Add("timestamp,value\n2014-04-01 00:00:00,NaN\n2014-03-01 00:05:00,+Inf\n1396311000,-1e308\n")
	f.Add("timestamp,value\n\"2014-04-01 00:00:00\",\"1\"\n")
	f.Add("timestamp,value\n,\n")
	f.Add("timestamp\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		if err := DetectCSV(strings.NewReader(in), &out, Settings{}); err != nil {
			return
		}
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV: %v", err)
		}
		inRows, _ := csv.NewReader(strings.NewReader(in)).ReadAll()
		if len(rows) != len(inRows) {
			t.Fatalf("%d output rows for %d input rows", len(rows), len(inRows))
		}
		for _, row := range rows[1:] {
			s, err := strconv.ParseFloat(row[2], 64)
			if err != nil || s < 0 || s > 1 || (row[3] != "0" && row[3] != "1") {
				t.Fatalf("row %q", row)
			}
		}
	})
}
