package usage

import (
	"slices"
	"testing"
)

// Names as the prometheusremotewrite exporter writes hostmetrics at v0.160.0.
func TestPromName(t *testing.T) {
	cases := []struct {
		name, unit, typ string
		mono            bool
		want            string
	}{
		{"process.cpu.time", "s", "sum", true, "process_cpu_time_seconds_total"},
		{"process.memory.usage", "By", "sum", false, "process_memory_usage_bytes"},
		{"system.cpu.utilization", "1", "gauge", false, "system_cpu_utilization_ratio"},
		{"process.threads", "{threads}", "sum", false, "process_threads"},
		{"process.disk.io", "By", "sum", true, "process_disk_io_bytes_total"},
		{"process.disk.operations", "{operations}", "sum", true, "process_disk_operations_total"},
		{"system.network.io", "By/s", "gauge", false, "system_network_io_bytes_per_second"},
		{"http.server.request.duration", "s", "histogram", false, "http_server_request_duration_seconds"},
	}
	for _, c := range cases {
		if got := PromName(c.name, c.unit, c.typ, c.mono); got != c.want {
			t.Errorf("PromName(%s, %s) = %q, want %q", c.name, c.unit, got, c.want)
		}
		if !slices.Contains(PromNames(c.name, c.typ), c.want) {
			t.Errorf("PromNames(%s) lacks %q: %v", c.name, c.want, PromNames(c.name, c.typ))
		}
	}
	for attr, want := range map[string]string{"process.pid": "process_pid", "host.name": "host_name", "state": "state", "1st": "key_1st"} {
		if got := PromLabel(attr); got != want {
			t.Errorf("PromLabel(%s) = %q, want %q", attr, got, want)
		}
	}
}

func TestLookupOTel(t *testing.T) {
	s := loadFixtures(t)
	u := s.LookupOTel("process.cpu.time", "sum")
	if u == nil || !u.Uses(PromLabel("process.executable.name")) || u.Uses(PromLabel("process.pid")) {
		t.Fatalf("process.cpu.time use = %+v", u)
	}
	if s.LookupOTel("process.open_file_descriptors", "sum") != nil {
		t.Fatal("unused metric found")
	}
	if s.LookupOTel("process.disk.operations", "sum") == nil {
		t.Fatal("metric matched by a __name__ regex not found")
	}
}
