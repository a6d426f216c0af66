package x

import other "example.com/fixture/projects/beta/internal/x"

var _ = other.V
