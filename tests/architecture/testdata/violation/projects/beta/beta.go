package beta

import "example.com/fixture/projects/beta/internal/x"

var _ = x.V
