package export

import (
	"regexp"
	"strconv"
	"sync"
)

// binarySI is n bytes as resource.NewQuantity(n, BinarySI).String() writes it: a
// power-of-1024 suffix while n divides evenly, and decimal suffixes below 1024.
func binarySI(n int64) string {
	if n > -1024 && n < 1024 {
		return decimalSI(n, 0)
	}
	suffixes := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	i := 0
	for i < len(suffixes)-1 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + suffixes[i]
}

// decimalSIMilli is n thousandths as resource.NewMilliQuantity(n, DecimalSI).String().
func decimalSIMilli(n int64) string { return decimalSI(n, -3) }

// decimalSI is n·10^exp with the largest power-of-1000 suffix that keeps it whole.
func decimalSI(n int64, exp int) string {
	if n == 0 {
		return "0"
	}
	for exp < 18 && n%1000 == 0 {
		n /= 1000
		exp += 3
	}
	suffix := map[int]string{-3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exp]
	return strconv.FormatInt(n, 10) + suffix
}

// dns1035 is validation.IsDNS1035Label's rule, with its words.
const (
	dns1035Fmt = "[a-z]([-a-z0-9]*[a-z0-9])?"
	dns1035Msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '" + dns1035Fmt + "')"
)

var dns1035 = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("^" + dns1035Fmt + "$") })

// isDNS1035Label is validation.IsDNS1035Label: what is wrong with value, if anything.
func isDNS1035Label(value string) []string {
	var errs []string
	if len(value) > 63 {
		errs = append(errs, "must be no more than 63 characters")
	}
	if !dns1035().MatchString(value) {
		errs = append(errs, dns1035Msg)
	}
	return errs
}
