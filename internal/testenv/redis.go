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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found on PATH: install it with `apt-get install -y redis-server`")
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind, so try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := startRedis(t, bin)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return ""
}

// startRedis makes one attempt to start redis-server on a free port.
func startRedis(t testing.TB, bin string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", fmt.Errorf("create redis log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
	)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(redisStartTimeout)
	for {
		if pingRedis(addr) == nil {
			t.Cleanup(stop)
			return addr, nil
		}
		select {
		case err := <-exited:
			exited <- err // let a later stop() return
			return "", fmt.Errorf("redis-server on port %d exited (%v); log:\n%s", port, err, readLog(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server on port %d did not answer PING within %s; log:\n%s", port, redisStartTimeout, readLog(logPath))
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
