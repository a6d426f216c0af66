package anomalydetector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
)

// scoreHistory is how many scored rollups are kept per stream for
// /api/v1/anomalies (two hours of one-minute rollups). With the four
// signals a kept rollup is about 270 bytes, so a stream costs about 32 KiB
// and the default 1,000 streams (max_series 4,000 / 4 signals) about 32 MiB
// at most (computed from the struct sizes, not measured).
const scoreHistory = 120

// scored is one signal of one rollup as the ensemble scored it.
type scored struct {
	value, score float64
	comps        anomaly.Components
	labelled     bool
}

type scoredRollup struct {
	at   time.Time
	sigs []scored // in scoreBook.signals order
}

// scoreRing is one stream's last scoreHistory scored rollups.
type scoreRing struct {
	team string
	rows []scoredRollup
	next int // where the next row goes once rows is full
}

// scoreBook keeps the recent scores of every stream the detector watches.
// The consumer records while the API reads, hence the lock. It holds at
// most maxStreams streams (those the detector admitted: it evicts and
// refuses for the book too).
type scoreBook struct {
	signals    []string
	threshold  float64
	maxStreams int

	mu      sync.Mutex
	streams map[string]*scoreRing
	dropped int64 // rollups not kept because maxStreams was reached
}

func newScoreBook(signals []string, maxSeries int, threshold float64) *scoreBook {
	if threshold == 0 {
		threshold = anomaly.DefaultThreshold
	}
	return &scoreBook{signals: slices.Clone(signals), threshold: threshold,
		maxStreams: max(1, maxSeries/max(1, len(signals))), streams: map[string]*scoreRing{}}
}

// record keeps obs's scores; team is the stream's team as far as known.
func (b *scoreBook) record(obs detect.Observation, team string) {
	row := scoredRollup{at: obs.Time, sigs: make([]scored, len(b.signals))}
	for i, sig := range b.signals {
		row.sigs[i] = scored{value: obs.Values[sig], score: obs.Scores[sig], comps: obs.Components[sig],
			labelled: slices.Contains(obs.Labelled, sig)}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if obs.Evicted != "" {
		delete(b.streams, obs.Evicted)
	}
	r := b.streams[obs.Stream]
	if r == nil {
		if len(b.streams) >= b.maxStreams {
			b.dropped++
			return
		}
		r = &scoreRing{}
		b.streams[obs.Stream] = r
	}
	if team != "" {
		r.team = team
	}
	if len(r.rows) < scoreHistory {
		r.rows = append(r.rows, row)
		return
	}
	r.rows[r.next] = row
	r.next = (r.next + 1) % scoreHistory
}

// scoreQuery selects a stream's points.
type scoreQuery struct {
	stream   string
	since    time.Time // zero: all kept
	minScore float64
}

// points returns the stream's points matching q, newest rollup first and
// within a rollup in signal order, and the stream's team; ok is false
// when no rollup of the stream is kept.
func (b *scoreBook) points(q scoreQuery) (pts []apiv1.AnomalyPoint, team string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.streams[q.stream]
	if r == nil {
		return nil, "", false
	}
	n := len(r.rows)
	for i := range n {
		row := r.rows[(r.next-1-i+2*n)%n]
		if row.at.Before(q.since) {
			continue
		}
		for j, sc := range row.sigs {
			if sc.score < q.minScore {
				continue
			}
			pts = append(pts, apiv1.AnomalyPoint{Time: row.at, Stream: q.stream, Signal: b.signals[j], Value: sc.value,
				Score: sc.score, Threshold: b.threshold, AboveThreshold: sc.score >= b.threshold, Labelled: sc.labelled,
				Components: apiv1.AnomalyComponents{RobustZ: sc.comps.RobustZ, Seasonal: sc.comps.Seasonal,
					CUSUM: sc.comps.CUSUM, Forest: sc.comps.Forest}})
		}
	}
	return pts, r.team, true
}

// size is the streams kept and the rollups dropped for want of room.
func (b *scoreBook) size() (int, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.streams), b.dropped
}

// anomalyCursor names a point: its rollup time and signal.
func anomalyCursor(p apiv1.AnomalyPoint) string {
	return strconv.FormatInt(p.Time.UnixNano(), 10) + "." + p.Signal
}

// parseScoreQuery reads ?stream=, ?since= (RFC 3339 or a duration back
// from now) and ?min_score=, reporting every problem at once.
func parseScoreQuery(req *apiv1.Request, now time.Time) (scoreQuery, error) {
	q := scoreQuery{stream: req.Query.Get("stream")}
	var errs []problem.FieldError
	if q.stream == "" {
		errs = append(errs, problem.FieldError{Path: "stream", Message: "is required"})
	} else {
		errs = checkStream(errs, "stream", q.stream)
	}
	if v := req.Query.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			q.since = t
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			q.since = now.Add(-d)
		} else {
			errs = append(errs, problem.FieldError{Path: "since", Message: "must be an RFC 3339 time or a positive duration (e.g. 1h)"})
		}
	}
	if v := req.Query.Get("min_score"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
			errs = append(errs, problem.FieldError{Path: "min_score", Message: "must be a number in [0, 1]"})
		}
		q.minScore = f
	}
	if len(errs) > 0 {
		return q, problem.BadRequest("invalid anomalies query", errs...)
	}
	return q, nil
}

// fetchAnomalies serves listAnomalies: the kept points of a stream of the
// caller's teams; a stream of another team is 404 like an unknown one.
func (s *Service) fetchAnomalies(_ context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.AnomalyPoint, error) {
	q, err := parseScoreQuery(req, s.now())
	if err != nil {
		return nil, err
	}
	pts, team, ok := s.scores.points(q)
	if !ok || !req.Principal.InTeam(team) {
		return nil, problem.NotFound("no scored rollups of stream %s", q.stream)
	}
	page, err := apiv1.After(pts, cursor, n, anomalyCursor)
	if err != nil {
		return nil, fmt.Errorf("anomalies of %s: %w", q.stream, err)
	}
	return page, nil
}
