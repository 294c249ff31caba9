package lockingtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

// Environment of a child process started by RunProcessRace. Only test
// processes read these; they never reach library code.
const (
	envPull   = "ATOLL_LOCKINGTEST_CHILD_PULL"
	envShared = "ATOLL_LOCKINGTEST_SHARED"
	envStart  = "ATOLL_LOCKINGTEST_START"
)

// resultPrefix starts the line a child prints with its outcome.
const resultPrefix = "lockingtest-result "

// raceKeys are the keys every process tries to take at once.
var raceKeys = []locking.Key{
	key("github.com/acme/race", "a"),
	key("github.com/acme/race", "b"),
	key("github.com/acme/race", "c"),
}

// SharedOpenFunc opens the store identified by shared, a string (a file path, a
// server address and key prefix) that can be handed to another process.
type SharedOpenFunc func(t *testing.T, shared string) locking.Store

// RunProcessRace makes procs OS processes race to take the same three locks,
// each process asking for them in a different order, against one store. Exactly
// one process must get all three and every other must get a *HeldError naming
// the winner; afterwards the store holds all three for the winner.
//
// The processes are copies of the running test binary, re-executed with
// -test.run naming the calling test, so RunProcessRace must be called from a
// top-level test function. In those copies it runs the child side instead:
// setup is only called in the parent, which passes its result to the children.
func RunProcessRace(t *testing.T, procs int, setup func(t *testing.T) string, open SharedOpenFunc) {
	if pull := os.Getenv(envPull); pull != "" {
		raceChild(t, pull, open)
		return
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("RunProcessRace must be called from a top-level test, not %s", t.Name())
	}
	shared := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Children wait for a common start time so they overlap despite starting
	// one after another.
	start := time.Now().Add(time.Second)
	type child struct {
		pull int
		cmd  *exec.Cmd
		out  bytes.Buffer
	}
	children := make([]*child, procs)
	for i := range children {
		c := &child{pull: 100 + i}
		c.cmd = exec.CommandContext(ctx, os.Args[0],
			"-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
		c.cmd.Env = append(os.Environ(),
			envPull+"="+strconv.Itoa(c.pull),
			envShared+"="+shared,
			envStart+"="+strconv.FormatInt(start.UnixNano(), 10),
		)
		c.cmd.Stdout = &c.out
		c.cmd.Stderr = &c.out
		if err := c.cmd.Start(); err != nil {
			t.Fatalf("start child process: %v", err)
		}
		children[i] = c
	}
	results := map[int]string{} // pull → "won" or "held-by=N"
	for _, c := range children {
		err := c.cmd.Wait()
		if err != nil {
			t.Errorf("child for pull %d failed: %v\n%s", c.pull, err, c.out.String())
			continue
		}
		sc := bufio.NewScanner(&c.out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
				results[c.pull] = rest
			}
		}
		if _, ok := results[c.pull]; !ok {
			t.Errorf("child for pull %d printed no result:\n%s", c.pull, c.out.String())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	var winners []int
	for pull, r := range results {
		if r == "won" {
			winners = append(winners, pull)
		}
	}
	slices.Sort(winners)
	if len(winners) != 1 {
		t.Fatalf("%d processes won the locks (%v), want exactly 1; results: %v", len(winners), winners, results)
	}
	winner := winners[0]
	for pull, r := range results {
		if pull != winner && r != "held-by="+strconv.Itoa(winner) {
			t.Errorf("process for pull %d: result %q, want held-by=%d", pull, r, winner)
		}
	}

	s := open(t, shared)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	got, err := s.List(context.Background(), locking.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(raceKeys) {
		t.Fatalf("after the race the store holds %d locks, want %d: %v", len(got), len(raceKeys), got)
	}
	for _, l := range got {
		if l.Pull != winner {
			t.Errorf("lock %s is held by #%d, want the winner #%d", l.Key, l.Pull, winner)
		}
	}
	t.Logf("%d processes raced; pull %d won", procs, winner)
}

// raceChild is the child side of RunProcessRace: take the race keys, in an
// order that depends on this child's pull, and print the outcome.
func raceChild(t *testing.T, pullEnv string, open SharedOpenFunc) {
	pull, err := strconv.Atoi(pullEnv)
	if err != nil {
		t.Fatalf("bad %s %q", envPull, pullEnv)
	}
	startNanos, err := strconv.ParseInt(os.Getenv(envStart), 10, 64)
	if err != nil {
		t.Fatalf("bad %s: %v", envStart, err)
	}
	time.Sleep(time.Until(time.Unix(0, startNanos)))

	s := open(t, os.Getenv(envShared))
	n := len(raceKeys)
	locks := make([]locking.Lock, n)
	for i := range locks {
		locks[i] = lock(raceKeys[(i+pull)%n], pull)
	}
	err = s.Acquire(context.Background(), locks)
	var held *locking.HeldError
	switch {
	case err == nil:
		fmt.Printf("%swon\n", resultPrefix)
	case errors.As(err, &held):
		fmt.Printf("%sheld-by=%d\n", resultPrefix, held.Held.Pull)
	default:
		t.Errorf("Acquire: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
