package shared

import "example.com/fixture/projects/beta"

var _ = beta.V
