// Package anomalydetector will be the anomaly detector: detectors over
// rollups, alerts, notifications and adaptive control. The guard (issue 16)
// fills it.
//
// Until it does something it registers no service: a service that only
// answers status would show in --services, in GET /api/v1/status and in
// /readyz as if it worked. The guard adds its Registration() here, its
// binary under cmd/anomaly-detector, and its name to the composition root's
// list (cmd/phoenix/services).
package anomalydetector
