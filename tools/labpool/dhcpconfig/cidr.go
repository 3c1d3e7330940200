package dhcpconfig

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

func parseCIDR4(cidr string) (net.IP, *net.IPNet, error) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return nil, nil, fmt.Errorf("dhcpconfig: subnet %q: want an ipv4 cidr", cidr)
	}
	if ones, _ := n.Mask.Size(); ones > 24 {
		return nil, nil, fmt.Errorf("dhcpconfig: subnet %q: want /24 or larger", cidr)
	}
	return ip, n, nil
}

func dotted(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ".")
}
