module github.com/phoenix-platform/phoenix/tools

go 1.26.7

require github.com/phoenix-platform/phoenix v0.0.0

replace github.com/phoenix-platform/phoenix => ../
