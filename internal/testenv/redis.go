package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisStartTimeout bounds how long RedisServer waits for a new server to answer PING.
const redisStartTimeout = 10 * time.Second

// RedisServer starts a real redis-server for the test on a free loopback port,
// with no persistence and its working directory in t.TempDir(), waits until it
// answers PING and returns its address ("127.0.0.1:PORT"). The server is killed
// when the test ends. The test fails with install instructions if redis-server
// is not on PATH, and with the server's log if it does not come up.
func RedisServer(t testing.TB) string {
	t.Helper()
	return startRedisServer(t, false).Addr
}

// Redis is a redis-server a test can stop and start again on the same port,
// keeping its data in an append-only file, as a production Redis restarted
// by its operator does.
type Redis struct {
	Addr string
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	stop func() // nil while stopped
}

// RestartableRedis is RedisServer with persistence (appendonly, fsync on
// every write), for tests that stop Redis and start it again.
func RestartableRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedisServer(t, true)
}

func startRedisServer(t testing.TB, persist bool) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found on PATH: install it with `apt-get install -y redis-server`")
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind, so try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &Redis{t: t, bin: bin, dir: t.TempDir(), port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		r.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}
		if persist {
			r.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
				"--appendfsync", "always", "--dir", r.dir}
		}
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(r.Stop)
			return r
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// Stop stops the server gracefully (SIGTERM: it writes its data out) and
// waits for it to exit. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

// Start starts the stopped server again on its port and waits for PING.
func (r *Redis) Start() {
	r.t.Helper()
	if r.stop != nil {
		return
	}
	if err := r.start(); err != nil {
		r.t.Fatalf("restart redis-server: %v", err)
	}
}

// start makes one attempt to start redis-server.
func (r *Redis) start() error {
	logPath := filepath.Join(r.dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create redis log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", r.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(redisStartTimeout)
	for {
		if pingRedis(r.Addr) == nil {
			r.stop = stop
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited (%v); log:\n%s", r.port, err, readLog(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING within %s; log:\n%s", r.port, redisStartTimeout, readLog(logPath))
		}
	}
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pingRedis sends an inline PING and expects +PONG.
func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", strings.TrimSpace(line))
	}
	return nil
}

// readLog returns the server log for a failure message.
func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}
