package main

import (
	"context"

	"github.com/phoenix-platform/phoenix/pkg/app"
)

// devFleet starts, with --dev, what a laptop needs to see Phoenix work: a
// local agent, its collector and demo traffic. The fleet issue fills it in.
func devFleet(_ context.Context, a *app.App) (func(), error) {
	if !a.Settings.Config.Dev {
		return nil, nil
	}
	a.Settings.Logger.Warn("--dev: the local agent, collector and demo traffic are not available in this build yet")
	return nil, nil
}
