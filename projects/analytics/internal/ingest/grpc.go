package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters compress with gzip by default; grpc bounds the inflated size by MaxRecvMsgSize (zstd: grpczstd.go)
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// rawCodec hands the gRPC server the request bytes instead of unmarshalled
// structs, so gRPC shares the protowire hot path. It is named "proto" so
// that it serves ordinary OTLP clients.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *rawMsg:
		return m.b, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		if pm, ok := v.(proto.Message); ok {
			return proto.Unmarshal(data, pm)
		}
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	// gRPC may reuse data after Unmarshal returns.
	m.b = append(m.b[:0], data...)
	return nil
}

type rawMsg struct{ b []byte }

// GRPCServer returns a gRPC server with the OTLP metrics service.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(int(s.cfg.MaxBodyBytes)))
	g := grpc.NewServer(opts...)
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.metrics.v1.MetricsService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return s.exportGRPC(ctx, dec)
			},
		}},
		Metadata: "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
	}, struct{}{})
	return g
}

func (s *Server) exportGRPC(ctx context.Context, dec func(any) error) (any, error) {
	const protocol = "otlp_grpc"
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	wr, e := s.caller(ctx, first("authorization"), first("x-phoenix-agent"))
	if e == nil {
		_, e = streamHeader(first("x-phoenix-stream"))
	}
	if e != nil {
		return nil, s.grpcFail(protocol, e)
	}
	// gRPC has already bounded the message size; reserve the limit until
	// the actual size is known.
	reserve := s.cfg.MaxBodyBytes
	if e := s.admit(reserve); e != nil {
		return nil, s.grpcFail(protocol, e)
	}
	defer s.release(reserve)
	var msg rawMsg
	if err := dec(&msg); err != nil {
		// gRPC has answered the client already; count the refusal as such.
		if status.Code(err) == codes.ResourceExhausted {
			return nil, s.grpcFail(protocol, refuse(http.StatusRequestEntityTooLarge, "too_large", "decode: %v", err))
		}
		return nil, s.grpcFail(protocol, refuse(http.StatusBadRequest, "malformed", "decode: %v", err))
	}
	res, err := s.ApplyOTLP(msg.b, first("x-phoenix-stream"), wr)
	if err != nil {
		return nil, s.grpcFail(protocol, refuse(http.StatusBadRequest, "malformed", "%v", err))
	}
	if e := allForbidden(res); e != nil {
		return nil, s.grpcFail(protocol, e)
	}
	if e := s.allThrottled(res); e != nil {
		return nil, s.grpcFail(protocol, e)
	}
	s.m.requests.WithLabelValues(protocol, "200").Inc()
	s.m.bytes.WithLabelValues(protocol).Add(float64(len(msg.b)))
	resp := &colmetrics.ExportMetricsServiceResponse{}
	if res.Rejected > 0 {
		resp.PartialSuccess = &colmetrics.ExportMetricsPartialSuccess{
			RejectedDataPoints: res.Rejected, ErrorMessage: res.message() + s.limitText(res.Reason),
		}
	}
	return resp, nil
}

// grpcFail maps an HTTP-style refusal to the gRPC code the OTLP spec names.
func (s *Server) grpcFail(protocol string, e *ingestError) error {
	s.m.requests.WithLabelValues(protocol, strconv.Itoa(e.status)).Inc()
	code := codes.InvalidArgument
	switch e.status {
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusForbidden:
		code = codes.PermissionDenied
	case http.StatusTooManyRequests:
		if e.reason == cardinality.RefusedTeamDatapoints {
			// The team's quota: RESOURCE_EXHAUSTED, retryable for OTLP
			// clients because it carries RetryInfo (OTLP spec, throttling).
			st, err := status.New(codes.ResourceExhausted, e.msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.retry)})
			if err == nil {
				return st.Err()
			}
		}
		code = codes.Unavailable
	case http.StatusServiceUnavailable:
		// UNAVAILABLE is retryable for every OTLP client; RESOURCE_EXHAUSTED
		// only with RetryInfo details.
		code = codes.Unavailable
	case http.StatusRequestEntityTooLarge:
		code = codes.ResourceExhausted
	}
	return status.Error(code, e.msg)
}
