package loadgen

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Protocols a target may speak.
const (
	ProtocolHTTP = "http" // OTLP/HTTP protobuf, POST <url>/v1/metrics, gzip
	ProtocolGRPC = "grpc" // OTLP/gRPC MetricsService/Export, gzip
)

// Target is where a simulation sends its metrics.
type Target struct {
	Protocol string // ProtocolHTTP or ProtocolGRPC
	TLS      bool
	Host     string // lower-case host name or IP, without brackets
	Port     int
	Endpoint string // HTTP: the full URL posted to; gRPC: host:port dialled
}

// String is the canonical form: http(s)://host:port/path or grpc(s)://host:port.
func (t Target) String() string {
	if t.Protocol == ProtocolHTTP {
		return t.Endpoint
	}
	scheme := "grpc"
	if t.TLS {
		scheme = "grpcs"
	}
	return scheme + "://" + t.Endpoint
}

// Key identifies the receiving socket and protocol (scheme://host:port),
// ignoring an HTTP path: allowlists compare keys.
func (t Target) Key() string {
	scheme := t.Protocol
	if t.TLS {
		scheme += "s"
	}
	host := t.Host
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(t.Port))
}

// ParseTarget reads a target: http://host:port[/path] or https://... for
// OTLP/HTTP (the path defaults to /v1/metrics), grpc://host:port or
// grpcs://host:port for OTLP/gRPC, or a bare host:port with protocol
// "grpc" or "http". protocol, when set, must agree with the scheme.
func ParseTarget(raw, protocol string) (Target, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Target{}, fmt.Errorf("target: required (http://host:4318, grpc://host:4317 or host:port with --protocol)")
	}
	switch protocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	default:
		return Target{}, fmt.Errorf("protocol: must be http or grpc, got %q", protocol)
	}
	if !strings.Contains(raw, "://") {
		if protocol == "" {
			return Target{}, fmt.Errorf("target %q: no scheme; use http://, https://, grpc:// or grpcs://, or set the protocol (http or grpc)", raw)
		}
		raw = protocol + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	t := Target{Host: strings.ToLower(u.Hostname())}
	switch u.Scheme {
	case "http", "https":
		t.Protocol, t.TLS = ProtocolHTTP, u.Scheme == "https"
	case "grpc", "grpcs":
		t.Protocol, t.TLS = ProtocolGRPC, u.Scheme == "grpcs"
	default:
		return Target{}, fmt.Errorf("target %q: scheme must be http, https, grpc or grpcs", raw)
	}
	if protocol != "" && protocol != t.Protocol {
		return Target{}, fmt.Errorf("target %q: the scheme says %s but the protocol is %s", raw, t.Protocol, protocol)
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("target %q: missing host", raw)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("target %q: credentials in the URL are not supported; use a token or header", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Target{}, fmt.Errorf("target %q: query and fragment are not supported", raw)
	}
	port := u.Port()
	switch {
	case port != "":
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Target{}, fmt.Errorf("target %q: port must be from 1 to 65535", raw)
		}
		t.Port = p
	case t.Protocol == ProtocolGRPC:
		return Target{}, fmt.Errorf("target %q: a gRPC target needs a port (the OTLP default is 4317)", raw)
	case t.TLS:
		t.Port = 443
	default:
		t.Port = 80
	}
	hostport := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	if t.Protocol == ProtocolGRPC {
		if u.Path != "" && u.Path != "/" {
			return Target{}, fmt.Errorf("target %q: a gRPC target has no path", raw)
		}
		t.Endpoint = hostport
		return t, nil
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/v1/metrics") {
		path += "/v1/metrics"
	}
	scheme := "http"
	if t.TLS {
		scheme = "https"
	}
	t.Endpoint = scheme + "://" + hostport + path
	return t, nil
}
