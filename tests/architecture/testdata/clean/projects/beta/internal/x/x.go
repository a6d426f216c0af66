package x

import "example.com/fixture/pkg/shared"

var _ = shared.V
