# A small static file server for run images without busybox or python3
# (Debian's minbase has perl-base): serve.pl PORT DIR. One request at a
# time per child; GET and HEAD; index.html for directories.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $root) = @ARGV;
my %types = (html => 'text/html; charset=utf-8', htm => 'text/html; charset=utf-8',
	css => 'text/css', js => 'text/javascript', json => 'application/json',
	svg => 'image/svg+xml', png => 'image/png', jpg => 'image/jpeg', jpeg => 'image/jpeg',
	gif => 'image/gif', ico => 'image/x-icon', txt => 'text/plain; charset=utf-8',
	wasm => 'application/wasm', woff2 => 'font/woff2');
$SIG{CHLD} = 'IGNORE';
my $server = IO::Socket::INET->new(LocalPort => $port, Listen => 64, ReuseAddr => 1, Proto => 'tcp')
	or die "serve.pl: listen on port $port: $!\n";
while (1) {
	my $c = $server->accept or next;
	my $pid = fork;
	if (!defined $pid || $pid) { close $c; next }
	close $server;
	serve($c);
	exit 0;
}

sub reply {
	my ($c, $status, $type, $body, $head) = @_;
	print $c "HTTP/1.0 $status\r\nContent-Type: $type\r\nContent-Length: " . length($body) .
		"\r\nConnection: close\r\n\r\n";
	print $c $body unless $head;
}

sub serve {
	my ($c) = @_;
	local $SIG{ALRM} = sub { exit 0 };
	alarm 30;
	my $line = <$c> // return;
	while (my $h = <$c>) { last if $h =~ /^\r?\n$/ }
	my ($method, $target) = $line =~ m{^(\S+) (\S+)} or return reply($c, '400 Bad Request', 'text/plain', "bad request\n");
	return reply($c, '405 Method Not Allowed', 'text/plain', "method not allowed\n") unless $method eq 'GET' || $method eq 'HEAD';
	my $head = $method eq 'HEAD';
	(my $path = $target) =~ s/[?#].*//;
	$path =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	my @parts = grep { $_ ne '' && $_ ne '.' } split m{/}, $path;
	return reply($c, '404 Not Found', 'text/plain', "not found\n", $head) if grep { $_ eq '..' } @parts;
	my $file = join '/', $root, @parts;
	$file .= '/index.html' if -d $file;
	open(my $fh, '<:raw', $file) or return reply($c, '404 Not Found', 'text/plain', "not found\n", $head);
	local $/;
	my $body = <$fh>;
	my ($ext) = $file =~ /\.([^.\/]+)$/;
	reply($c, '200 OK', $types{lc($ext // '')} // 'application/octet-stream', $body, $head);
}
