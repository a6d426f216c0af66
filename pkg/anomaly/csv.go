package anomaly

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// timeLayouts are the timestamp forms DetectCSV accepts: NAB's, RFC 3339, and
// Unix seconds (tried last, as a number).
var timeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	time.RFC3339Nano,
}

// ParseTime parses a timestamp in one of the accepted forms.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if sec, err := strconv.ParseFloat(s, 64); err == nil && sec > -1e11 && sec < 1e11 {
		whole := int64(sec)
		return time.Unix(whole, int64((sec-float64(whole))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want \"2006-01-02 15:04:05\", RFC 3339 or Unix seconds", s)
}

// DetectCSV reads `timestamp,value` rows (a header line first, as in NAB),
// runs one Ensemble over them in order, the same code as streaming, and
// writes `timestamp,value,anomaly_score,label` with the input's timestamp and
// value text as given (spaces trimmed). An error names the input line it is about; rows
// already written stay written.
func DetectCSV(r io.Reader, w io.Writer, s Settings) error {
	e, err := New(s)
	if err != nil {
		return err
	}
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	cr.ReuseRecord = true
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("read csv: empty input, want a header line timestamp,value")
	}
	if err != nil {
		return fmt.Errorf("read csv: %w", err)
	}
	if len(header) != 2 || strings.TrimSpace(strings.TrimPrefix(header[0], "\ufeff")) != "timestamp" || strings.TrimSpace(header[1]) != "value" {
		return fmt.Errorf("read csv: line 1: header %q, want timestamp,value", strings.Join(header, ","))
	}
	if err := cw.Write([]string{"timestamp", "value", "anomaly_score", "label"}); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	out := make([]string, 4)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read csv: %w", err) // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 2 {
			return fmt.Errorf("read csv: line %d: %d fields, want timestamp,value", line, len(rec))
		}
		ts, err := ParseTime(strings.TrimSpace(rec[0]))
		if err != nil {
			return fmt.Errorf("read csv: line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return fmt.Errorf("read csv: line %d: value %q is not a number", line, rec[1])
		}
		res := e.Observe(ts, v)
		out[0], out[1] = strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		out[2] = strconv.FormatFloat(res.Score, 'f', 4, 64)
		out[3] = "0"
		if res.Label {
			out[3] = "1"
		}
		if err := cw.Write(out); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
