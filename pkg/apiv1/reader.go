package apiv1

import "bytes"

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
