package httpx

import (
	"context"
	"net"
	"sync"
)

// LimitUnauthenticated caps the connections that have not yet
// authenticated: each accepted connection holds one of max slots until its
// handler calls Authenticated or the connection closes. A connection
// accepted while every slot is held is closed at once and refused is called
// (count it). Without the cap, sockets that never send a request, or never
// finish authenticating, are bounded only by the process's file limit,
// which every listener shares. Call it before Start.
func (s *Server) LimitUnauthenticated(max int, refused func()) {
	if max <= 0 {
		return
	}
	g := &gate{slots: make(chan struct{}, max), refused: refused}
	s.ln = &gatedListener{Listener: s.ln, g: g}
	next := s.srv.ConnContext
	s.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if gc, ok := c.(*gatedConn); ok {
			ctx = context.WithValue(ctx, gateKey, gc)
		}
		if next != nil {
			ctx = next(ctx, c)
		}
		return ctx
	}
}

// Authenticated releases the unauthenticated slot of the request's
// connection (no-op when the listener has no cap, or on a second call).
func Authenticated(ctx context.Context) {
	if gc, ok := ctx.Value(gateKey).(*gatedConn); ok {
		gc.release()
	}
}

const gateKey ctxKey = iota + 1

type gate struct {
	slots   chan struct{}
	refused func()
}

type gatedListener struct {
	net.Listener
	g *gate
}

// Accept returns the next connection that gets a slot; the others are
// closed here, so the caller (http.Server) never sees them.
func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.g.slots <- struct{}{}:
			return &gatedConn{Conn: c, g: l.g}, nil
		default:
			_ = c.Close()
			if l.g.refused != nil {
				l.g.refused()
			}
		}
	}
}

// gatedConn gives its slot back once: on authentication or on close.
type gatedConn struct {
	net.Conn
	g    *gate
	once sync.Once
}

func (c *gatedConn) release() { c.once.Do(func() { <-c.g.slots }) }

func (c *gatedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
