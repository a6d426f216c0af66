package gateway

import (
	"encoding/base64"
	"errors"
)

// encodeCursor and decodeCursor make list cursors opaque.
func encodeCursor(key string) *string {
	c := base64.RawURLEncoding.EncodeToString([]byte(key))
	return &c
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > 256 {
		return "", errors.New("malformed cursor")
	}
	return string(b), nil
}
