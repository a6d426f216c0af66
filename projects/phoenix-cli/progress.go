package phoenixcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress of long commands: on a terminal one spinner line redrawn in
// place, elsewhere (CI logs, pipes) one plain timestamped line per change,
// so logs stay readable. Progress goes to stderr (never into -o json
// output) and nowhere under --quiet.

var spinnerFrames = []string{"|", "/", "-", `\`}

// liveLine shows what a command waits for.
type liveLine struct {
	w       io.Writer
	tty     bool
	start   time.Time
	frame   int
	last    string
	written bool
}

func newLiveLine(w io.Writer, start time.Time) *liveLine {
	return &liveLine{w: w, tty: isTerminal(w), start: start}
}

// show draws line: redrawn with the next spinner frame on a terminal,
// printed only when it changed elsewhere.
func (l *liveLine) show(line string, now time.Time) {
	elapsed := now.Sub(l.start).Truncate(time.Second)
	if l.tty {
		l.frame++
		fmt.Fprintf(l.w, "\r\033[K%s %s  %s", spinnerFrames[l.frame%len(spinnerFrames)], line, elapsed)
		l.written = true
		return
	}
	if line != l.last {
		fmt.Fprintf(l.w, "%s %s (elapsed %s)\n", now.UTC().Format(time.RFC3339), line, elapsed)
	}
	l.last = line
}

// done ends the spinner line.
func (l *liveLine) done() {
	if l.tty && l.written {
		fmt.Fprintln(l.w)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// spinInterval is how often a spinner turns while one call runs.
const spinInterval = 150 * time.Millisecond

// showWhile runs f, showing what on w while it runs: a turning spinner on a
// terminal, one plain line elsewhere. The spinner's goroutine ends before
// showWhile returns.
func showWhile(ctx context.Context, w io.Writer, what string, f func() error) error {
	return spinWhile(ctx, newLiveLine(w, time.Now()), what, f)
}

func spinWhile(ctx context.Context, l *liveLine, what string, f func() error) error {
	l.show(what, time.Now())
	if !l.tty {
		return f()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(spinInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				l.show(what, now)
			}
		}
	}()
	err := f()
	close(stop)
	wg.Wait()
	l.done()
	return err
}
