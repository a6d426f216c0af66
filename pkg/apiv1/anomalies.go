package apiv1

import "time"

// AnomalyPoint is one signal of one rollup as the anomaly detector scored it
// (GET /api/v1/anomalies?stream=): the signal's value, the ensemble's score
// and each of its detectors' own scores.
type AnomalyPoint struct {
	// Time is the end of the rollup the point was computed from.
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	// Signal is active_series, new_series_per_min, dp_per_s or bytes_per_s.
	Signal string  `json:"signal"`
	Value  float64 `json:"value"`
	// Score is the ensemble's anomaly score in [0,1].
	Score float64 `json:"score"`
	// Threshold is the detector's label threshold (anomaly-detector.threshold,
	// or the ensemble's default 0.5); AboveThreshold is Score >= Threshold.
	Threshold      float64 `json:"threshold"`
	AboveThreshold bool    `json:"above_threshold"`
	// Labelled: the ensemble raised an anomaly at this point (threshold
	// reached outside its refractory period, past the warm-up); this is
	// what opens an `anomaly` alert.
	Labelled   bool              `json:"labelled"`
	Components AnomalyComponents `json:"components"`
}

// AnomalyComponents are the ensemble's detectors' own scores in [0,1].
type AnomalyComponents struct {
	RobustZ  float64 `json:"robust_z"`
	Seasonal float64 `json:"seasonal"`
	CUSUM    float64 `json:"cusum"`
	Forest   float64 `json:"forest"`
}
