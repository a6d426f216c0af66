package ingest

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// zstdMaxWindow bounds the window a zstd frame may ask for, as on the HTTP
// path: a frame asking for more is refused, not allocated.
const zstdMaxWindow = 8 << 20

// The OTLP exporters' `compression: zstd` sends grpc-encoding: zstd, which
// gRPC answers with Unimplemented unless a compressor of that name is
// registered. Registration is process-wide, as for gzip.
func init() { encoding.RegisterCompressor(&zstdCompressor{}) }

// zstdCompressor is a grpc encoding.Compressor backed by klauspost's zstd.
// gRPC reads at most MaxRecvMsgSize+1 bytes from Decompress's reader and
// answers ResourceExhausted past it, so a zstd bomb inflates no further
// than the body limit; decoders are synchronous (no goroutines) and
// streaming, so their memory is the window, at most zstdMaxWindow.
type zstdCompressor struct {
	encoders sync.Pool // *zstd.Encoder
	decoders sync.Pool // *zstd.Decoder
}

func (*zstdCompressor) Name() string { return "zstd" }

func (c *zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	enc, _ := c.encoders.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		// Responses are small: a small window keeps what a client must hold.
		enc, err = zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
		if err != nil {
			return nil, err
		}
	} else {
		enc.Reset(w)
	}
	return &zstdWriter{Encoder: enc, pool: &c.encoders}, nil
}

type zstdWriter struct {
	*zstd.Encoder
	pool *sync.Pool
}

// Close ends the frame; gRPC calls it once, after which the encoder is
// reused.
func (w *zstdWriter) Close() error {
	err := w.Encoder.Close()
	w.pool.Put(w.Encoder)
	return err
}

func (c *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	// Hide any Bytes/Len methods of r: the decoder would then decode the
	// whole frame at once, past the bound gRPC's reads set.
	r = struct{ io.Reader }{r}
	dec, _ := c.decoders.Get().(*zstd.Decoder)
	if dec == nil {
		var err error
		dec, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
	} else if err := dec.Reset(r); err != nil {
		c.decoders.Put(dec)
		return nil, err
	}
	return &zstdReader{dec: dec, pool: &c.decoders}, nil
}

type zstdReader struct {
	dec  *zstd.Decoder
	pool *sync.Pool
}

func (z *zstdReader) Read(p []byte) (int, error) { return z.dec.Read(p) }

// Close returns the decoder to the pool, without the request's buffers;
// gRPC calls it once, read to the end or not.
func (z *zstdReader) Close() error {
	_ = z.dec.Reset(nil)
	z.pool.Put(z.dec)
	return nil
}
