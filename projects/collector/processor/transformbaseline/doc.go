// Package transformbaseline benchmarks the upstream transform processor on
// the same hostmetrics-shaped data as the Phoenix processors' benchmarks, so
// their cost per datapoint has a reference: `make bench` reports both.
package transformbaseline
