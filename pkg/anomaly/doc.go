// Package anomaly detects anomalies in one series of (timestamp, value) points,
// one point at a time: a robust z-score over a rolling median/MAD, a seasonal
// EWMA (additive Holt-Winters without trend, season given or learned), a
// two-sided CUSUM for change points and an online isolation forest over a few
// features, combined by an Ensemble into a score in [0,1] and a label.
//
// It is a library in pkg/ because both the anomaly-detector service (streaming
// over rollups) and the phoenix CLI (batch mode over CSV, DetectCSV) run the
// same code, and projects may not import each other.
//
// Memory per series is bounded by Settings (fixed windows, fixed-size models);
// the whole state round-trips through MarshalBinary/UnmarshalBinary so a
// detector survives restarts without relearning.
package anomaly
