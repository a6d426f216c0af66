package x

import (
	"fmt"

	"example.com/fixture/pkg/shared"
	"example.com/fixture/projects/alpha/internal/y"
)

var _ = fmt.Sprint(shared.V, y.V)
