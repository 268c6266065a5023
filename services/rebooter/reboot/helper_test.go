package reboot

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the commands and processes the tests run: with NW_REBOOT_HELPER
// set, TestMain plays that part instead of running tests.
const (
	helperEnv = "NW_REBOOT_HELPER"
	outEnv    = "NW_REBOOT_HELPER_OUT"
	sigEnv    = "NW_REBOOT_HELPER_SIGNAL"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "argv": // record the arguments exactly, as JSON
		b, _ := json.Marshal(os.Args[1:])
		if err := os.WriteFile(os.Getenv(outEnv), b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("recorded")
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "Failed to reboot system via logind: Access denied")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
		os.Exit(0)
	case "trap": // stand in for systemd: say when listening, report the signal, exit cleanly
		n, _ := strconv.Atoi(os.Getenv(sigEnv))
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.Signal(n))
		fmt.Println("ready")
		select {
		case s := <-ch:
			fmt.Printf("got %d\n", int(s.(syscall.Signal)))
			os.Exit(0)
		case <-time.After(30 * time.Second):
			os.Exit(2)
		}
	}
	os.Exit(99)
}

// readLine reads one line from r, failing the test after a deadline.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		s, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			s = "read error: " + err.Error()
		}
		ch <- s
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no line from the helper within 10s")
		return ""
	}
}
