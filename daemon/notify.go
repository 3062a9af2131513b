package daemon

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier tells systemd (Type=notify) how the daemon is doing through the
// NOTIFY_SOCKET datagram socket. Without NOTIFY_SOCKET (not under systemd)
// every call does nothing. Failures are logged once at debug level and
// never stop the daemon: systemd itself notices a daemon that never gets
// ready or stops pinging its watchdog.
type notifier struct {
	logger *slog.Logger
	// watchdog is how often to ping: half of WATCHDOG_USEC, 0 when systemd
	// runs no watchdog for this process.
	watchdog time.Duration
	warned   bool
}

func newNotifier(logger *slog.Logger) *notifier {
	n := &notifier{logger: logger}
	// false: keep NOTIFY_SOCKET and WATCHDOG_USEC, later notifications
	// (reload, stop) need them.
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		logger.Warn("systemd watchdog: ignoring a malformed WATCHDOG_USEC", "err", err)
	}
	if interval > 0 {
		n.watchdog = interval / 2
	}
	return n
}

func (n *notifier) send(lines ...string) {
	if _, err := sddaemon.SdNotify(false, strings.Join(lines, "\n")); err != nil && !n.warned {
		n.warned = true
		n.logger.Warn("cannot notify systemd", "err", err)
	}
}

// ready says startup (or a reload) is complete.
func (n *notifier) ready(status string) { n.send(sddaemon.SdNotifyReady, "STATUS="+status) }

// reloading says a reload began. MONOTONIC_USEC lets Type=notify-reload
// match it to its SIGHUP; plain Type=notify ignores it.
func (n *notifier) reloading() {
	var ts unix.Timespec
	lines := []string{sddaemon.SdNotifyReloading, "STATUS=reloading the configuration"}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		lines = append(lines, fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000))
	}
	n.send(lines...)
}

func (n *notifier) stopping() { n.send(sddaemon.SdNotifyStopping, "STATUS=shutting down") }

func (n *notifier) ping() { n.send(sddaemon.SdNotifyWatchdog) }

// watchdogTicks returns a channel ticking at the ping interval, and a stop
// function; the channel is nil (never ready) without a watchdog.
func (n *notifier) watchdogTicks() (<-chan time.Time, func()) {
	if n.watchdog <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(n.watchdog)
	return t.C, t.Stop
}
