package otlpwire

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// Fast paths for the common encodings: one-byte tags, lengths under 16 KiB,
// one-byte varints. Everything else goes to protowire, so the results and
// errors are protowire's. These are what make the walker cheap: they are
// small enough to be inlined, and protowire's general functions are not.

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0] >= 0x08 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return consumeTagSlow(b)
}

//go:noinline
func consumeTagSlow(b []byte) (protowire.Number, protowire.Type, int) { return protowire.ConsumeTag(b) }

func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		n := int(b[0]) + 1
		return b[1:n], n
	}
	return consumeBytesSlow(b)
}

//go:noinline
func consumeBytesSlow(b []byte) ([]byte, int) {
	if len(b) > 1 && b[0] >= 0x80 && b[1] < 0x80 && b[1] != 0 {
		n := int(b[0]&0x7f) | int(b[1])<<7 + 2
		if n > len(b) {
			return nil, -1 // protowire's code for truncated input
		}
		return b[2:n], n
	}
	return protowire.ConsumeBytes(b)
}

func consumeFixed64(b []byte) (uint64, int) {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b), 8
	}
	return 0, -1
}

// consumeFieldValue returns the length of a field's value, or a negative
// protowire error code.
func consumeFieldValue(num protowire.Number, typ protowire.Type, b []byte) int {
	if typ == protowire.Fixed64Type && len(b) >= 8 {
		return 8
	}
	return consumeFieldValueSlow(num, typ, b)
}

//go:noinline
func consumeFieldValueSlow(num protowire.Number, typ protowire.Type, b []byte) int {
	switch typ {
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			return 1
		}
	case protowire.Fixed32Type:
		if len(b) >= 4 {
			return 4
		}
	case protowire.BytesType:
		_, n := consumeBytes(b)
		return n
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}
