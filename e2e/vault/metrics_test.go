package vault

import "context"

// metric reads one series of the daemon; a series not exported yet reads 0.
func metric(ctx context.Context, series string) (float64, error) {
	v, _, err := daemon.Metric(ctx, series)
	return v, err
}
