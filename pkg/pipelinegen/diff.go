package pipelinegen

import (
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// maxDiffLines bounds the inputs of UnifiedDiff: the matcher's memory grows
// with the line count, and configs are far smaller.
const maxDiffLines = 20000

// UnifiedDiff is a unified line diff from a to b with three lines of
// context, or "" when they are equal. Inputs over maxDiffLines lines are
// refused with a one-line note instead of a diff.
func UnifiedDiff(fromName, toName, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := difflib.SplitLines(a), difflib.SplitLines(b)
	if len(al) > maxDiffLines || len(bl) > maxDiffLines {
		return "diff too large: more than " + strconv.Itoa(maxDiffLines) + " lines\n"
	}
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: al, B: bl, FromFile: fromName, ToFile: toName, Context: 3,
	})
	if err != nil {
		return "diff failed: " + err.Error() + "\n"
	}
	return strings.ReplaceAll(out, "\n\\ No newline at end of file", "")
}
