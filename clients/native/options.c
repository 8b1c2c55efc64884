#include "common.h"
#include "options.h"

static void bad_value(const char *name, const char *text, const char *expected) {
    fprintf(stderr, "load: --%s: expected %s, got '%s'\n", name, expected, text);
    exit(2);
}

uint64_t count_arg(const char *name, const char *text, uint64_t maximum) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (end == text || *end || errno || text[0] == '-' || value < 1 || value > maximum)
        bad_value(name, text, "a positive integer within bounds");
    return value;
}

double seconds_arg(const char *name, const char *text, int positive) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(value) || value < 0 || (positive && value == 0))
        bad_value(name, text, positive ? "a finite number > 0" : "a finite number >= 0");
    return value;
}

void parse_options(int argc, char **argv, struct options *o) {
    static const struct option long_options[] = {
        {"connect", required_argument, 0, 'c'}, {"unix", required_argument, 0, 'u'},
        {"size", required_argument, 0, 's'},    {"concurrency", required_argument, 0, 'n'},
        {"first", required_argument, 0, 'f'},   {"pipeline", required_argument, 0, 'p'},
        {"duration", required_argument, 0, 'd'}, {"warmup", required_argument, 0, 'w'},
        {"rate", required_argument, 0, 'r'},    {"requests", required_argument, 0, 'q'},
        {"arrivals", required_argument, 0, 'a'}, {"drain", required_argument, 0, 'D'},
        {"server-pid", required_argument, 0, 'P'}, {"priority", required_argument, 0, 'R'},
        {"tls", no_argument, 0, 'T'},          {"tls-resume", no_argument, 0, 'S'},
        {"churn", required_argument, 0, 'C'},   {"idle", required_argument, 0, 'I'},
        {"slow-readers", required_argument, 0, 'L'},
        {0, 0, 0, 0},
    };
    static char host[256], port[16];
    *o = (struct options){.size = 1024, .connections = 10, .pipeline = 1, .duration = 5.0,
                          .warmup = 1.0, .arrivals = "poisson", .drain = 1.0,
                          .priority = "auto"};
    int option;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        const char *name = option == '?' ? "?" : long_options[0].name;
        for (const struct option *l = long_options; l->name; l++)
            if (l->val == option) name = l->name;
        switch (option) {
        case 'c': {
            const char *colon = strrchr(optarg, ':');
            size_t length = colon ? (size_t)(colon - optarg) : 0;
            if (!colon || !length || length >= sizeof host) bad_value(name, optarg, "HOST:PORT");
            if (optarg[0] == '[' && optarg[length - 1] == ']') /* [IPv6]:PORT */
                snprintf(host, sizeof host, "%.*s", (int)length - 2, optarg + 1);
            else
                snprintf(host, sizeof host, "%.*s", (int)length, optarg);
            snprintf(port, sizeof port, "%llu", (unsigned long long)count_arg(name, colon + 1, 65535));
            o->host = host, o->port = port;
            break;
        }
        case 'u': o->unix_path = optarg; break;
        case 's': o->size = count_arg(name, optarg, MAX_SIZE); break;
        case 'n': o->connections = count_arg(name, optarg, 1000000); break;
        case 'f': o->first = strcmp(optarg, "0") == 0 ? 0 : count_arg(name, optarg, 1000000); break;
        case 'p': o->pipeline = count_arg(name, optarg, 1000000); break;
        case 'd': o->duration = seconds_arg(name, optarg, 1); break;
        case 'w': o->warmup = seconds_arg(name, optarg, 0); break;
        case 'r': o->rate = seconds_arg(name, optarg, 1); break;
        case 'q': o->requests = count_arg(name, optarg, UINT64_MAX / 2); break;
        case 'a':
            if (strcmp(optarg, "poisson") != 0 && strcmp(optarg, "uniform") != 0)
                bad_value(name, optarg, "poisson or uniform");
            o->arrivals = optarg;
            break;
        case 'D': o->drain = seconds_arg(name, optarg, 0); break;
        case 'P': o->server_pid = (int)count_arg(name, optarg, 4194304); break;
        case 'T': o->tls = 1; break;
        case 'S': o->tls_resume = 1; break;
        case 'C': o->churn = count_arg(name, optarg, 1000000); break;
        case 'I': o->idle = count_arg(name, optarg, 1000000); break;
        case 'L': o->slow_readers = count_arg(name, optarg, 10000); break;
        case 'R':
            if (strcmp(optarg, "auto") && strcmp(optarg, "realtime") && strcmp(optarg, "normal"))
                bad_value(name, optarg, "auto, realtime or normal");
            o->priority = optarg;
            break;
        default:
            fprintf(stderr, "load: unknown or incomplete option '%s'\n", argv[optind - 1]);
            exit(2);
        }
    }
    if (optind != argc - 1) die(2, "%s", "load: expected one protocol (tcp, ws or line) and options");
    o->protocol = argv[optind];
    if (strcmp(o->protocol, "tcp") && strcmp(o->protocol, "ws") && strcmp(o->protocol, "line"))
        bad_value("protocol", o->protocol, "tcp, ws or line");
    if (!o->host == !o->unix_path) die(2, "%s", "load: one of --connect and --unix is needed");
    if (o->churn && o->requests % o->churn) die(2, "%s", "load: --requests must be a multiple of --churn");
    if (o->churn && (o->idle || o->slow_readers))
        die(2, "%s", "load: --idle and --slow-readers go with connections that stay open, not --churn");
}
