// Package agent runs on a host: it supervises a phoenix-collector process and
// speaks OpAMP to the control plane. Its features land with the fleet issue.
package agent
