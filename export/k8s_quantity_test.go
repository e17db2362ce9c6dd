package export

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The plain forms must be what the API's own types write.
func TestQuantitiesAsAPI(t *testing.T) {
	for _, n := range []int64{1, 7, 512, 999, 1000, 1023, 1024, 1500, 4096, 1 << 20, 64 << 20, 100_000_000,
		1000 << 20, 3 << 30, 1 << 40, 5 << 50, 1 << 60, 1<<62 + 1024} {
		if got, want := binarySI(n), resource.NewQuantity(n, resource.BinarySI).String(); got != want {
			t.Errorf("binarySI(%d) = %q, the API writes %q", n, got, want)
		}
	}
	for _, m := range []int64{1, 100, 250, 500, 999, 1000, 1500, 2000, 10_000, 64_000, 1_000_000, 2_500_000, 1_000_000_000} {
		if got, want := decimalSIMilli(m), resource.NewMilliQuantity(m, resource.DecimalSI).String(); got != want {
			t.Errorf("decimalSIMilli(%d) = %q, the API writes %q", m, got, want)
		}
	}
}

func TestDNS1035AsAPI(t *testing.T) {
	long := "a123456789012345678901234567890123456789012345678901234567890123"
	for _, s := range []string{"shop-api", "a", "", "Shop", "1api", "api-", "a_b", "a.b", long, long + "-", "x-1-y"} {
		if got, want := isDNS1035Label(s), validation.IsDNS1035Label(s); !slices.Equal(got, want) {
			t.Errorf("isDNS1035Label(%q) = %q, the API says %q", s, got, want)
		}
	}
}
