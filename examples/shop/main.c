/*
 * examples/shop/main.c - typed tables in a small shop: customers with a
 * unique email, orders that refer to their customer, a composite index to
 * find a customer's orders by date, and each order's lines as a list
 * (examples/shop/shop.pbs).
 *
 *   shop [DIR]     (DIR defaults to ./shop-data)
 *
 * The first run loads three customers and six orders in one transaction.
 * Every run then: lists the orders of customer 2 through the index,
 * following each order's reference to its customer; lists the orders
 * between two (customer, date) pairs (a range over the index); tries a
 * second customer with a taken email (refused); adds an order with
 * pb_txn_run; and checks the tables and their indexes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <protobase/protobase.h>

#include "shop.pb.h"

static void check(int rc, const char *what) {
  if (rc == PB_OK) return;
  const char *detail = pb_errdetail();
  fprintf(stderr, "shop: %s: %s (%s)%s%s\n", what, pb_strerror(rc),
          pb_errname(rc), *detail ? ": " : "", detail);
  exit(1);
}

/* A cursor's end is PB_ENOTFOUND; anything else is an error. */
static void check_end(int rc, const char *what) {
  check(rc == PB_ENOTFOUND ? PB_OK : rc, what);
}

#define T0 1767225600 /* 2026-01-01 00:00 UTC */
#define DAY 86400

static int load(pb_txn *txn, void *arg) {
  (void)arg;
  static const char *const names[] = {"Ada", "Grace", "Edsger"};
  static const char *const emails[] = {"ada@example.com", "grace@example.com",
                                       "edsger@example.com"};
  for (uint64_t i = 0; i < 3; i++) {
    shop_Customer c;
    shop_Customer_init(&c);
    c.id = i + 1;
    c.name = pb_str_from_cstr(names[i]);
    c.email = pb_str_from_cstr(emails[i]);
    int rc = shop_Customer_insert(txn, &c);
    if (rc != PB_OK) return rc;
  }
  static const struct {
    uint64_t customer;
    int days;
    const char *lines[3];
  } orders[] = {
      {2, 3, {"compiler book", "coffee", NULL}},
      {1, 5, {"notebook", NULL, NULL}},
      {2, 9, {"punched cards", "tape", "nanosecond wire"}},
      {3, 12, {"chalk", NULL, NULL}},
      {2, 20, {"debugger", NULL, NULL}},
      {1, 21, {"engine plans", "brass gears", NULL}},
  };
  for (uint64_t i = 0; i < sizeof orders / sizeof *orders; i++) {
    shop_Order o;
    shop_Order_init(&o);
    o.id = 100 + i;
    o.customer = orders[i].customer;
    o.placed = T0 + (int64_t)orders[i].days * DAY;
    o.total = 9.5 * (double)(i + 1);
    int rc = shop_Order_insert(txn, &o);
    shop_Order_lines *lines;
    if (rc == PB_OK)
      rc = shop_Order_lines_open(txn, &o, PB_CREATE, &lines);
    for (int k = 0; rc == PB_OK && k < 3 && orders[i].lines[k]; k++)
      rc = shop_Order_lines_append(lines, orders[i].lines[k]);
    if (rc != PB_OK) return rc;
  }
  return PB_OK;
}

/* Prints an order, its customer (following the reference) and its lines. */
static void print_order(pb_txn *txn, const shop_Order *o) {
  shop_Customer c;
  int rc = shop_Order_customer_get(txn, o, &c);
  printf("  order %" PRIu64 " on day %" PRId64 ", %.2f, by ", o->id,
         (o->placed - T0) / DAY, o->total);
  if (rc == PB_ENOTFOUND) printf("(customer %" PRIu64 " is gone)", o->customer);
  else {
    check(rc, "customer");
    printf("%.*s", (int)c.name.len, c.name.ptr);
  }
  shop_Order_lines *lines;
  rc = shop_Order_lines_open(txn, o, 0, &lines);
  if (rc == PB_OK) {
    uint64_t n;
    check(shop_Order_lines_count(lines, &n), "lines");
    printf(":");
    for (uint64_t i = 0; i < n; i++) {
      pb_str line;
      check(shop_Order_lines_get(lines, i, &line), "line");
      printf("%s %.*s", i ? "," : "", (int)line.len, line.ptr);
    }
  } else {
    check_end(rc, "lines"); /* no lines */
  }
  printf("\n");
}

static int add_order(pb_txn *txn, void *arg) {
  uint64_t *id = arg;
  shop_Order last;
  shop_Order_cursor *cur; /* the highest order number, then one more */
  int rc = shop_Order_scan(txn, NULL, NULL, PB_SCAN_REVERSE, &cur);
  if (rc != PB_OK) return rc;
  rc = shop_Order_next(cur, &last);
  shop_Order_cursor_close(cur);
  if (rc != PB_OK) return rc;
  shop_Order o;
  shop_Order_init(&o);
  o.id = *id = last.id + 1;
  o.customer = 3;
  o.placed = last.placed + DAY;
  o.total = 1.25;
  rc = shop_Order_insert(txn, &o);
  shop_Order_lines *lines;
  if (rc == PB_OK) rc = shop_Order_lines_open(txn, &o, PB_CREATE, &lines);
  if (rc == PB_OK) rc = shop_Order_lines_append(lines, "more chalk");
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "shop-data";
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  check(pb_storage_open_file(dir, NULL, &st), dir);
  check(pb_space_open(st, &sp), "open space");
  check(pb_db_open_types(sp, "shop", PB_CREATE, shop_record_types,
                         shop_record_types_count, &db),
        "open database");

  pb_txn *txn;
  uint64_t n;
  check(pb_txn_begin(db, PB_RDONLY, &txn), "begin");
  check(shop_Customer_count(txn, &n), "count");
  pb_txn_abort(txn);
  if (n == 0) {
    check(pb_txn_run(db, load, NULL, PB_TXN_RUN_RETRIES), "load");
    printf("loaded 3 customers and 6 orders into %s/\n", dir);
  }

  check(pb_txn_begin(db, PB_RDONLY, &txn), "begin");
  shop_Order_cursor *cur;
  shop_Order o;
  int rc;
  printf("orders of customer 2, by date (index customer):\n");
  check(shop_Order_find_by_customer_upto_customer(txn, 2, &cur), "find");
  while ((rc = shop_Order_next(cur, &o)) == PB_OK) print_order(txn, &o);
  check_end(rc, "next");
  shop_Order_cursor_close(cur);

  printf("orders from (customer 1, day 5) to (customer 2, day 20), in the "
         "index's order (a range of the composite index):\n");
  shop_Order_customer_key lo = {.customer = 1, .placed = T0 + 5 * DAY};
  shop_Order_customer_key hi = {.customer = 2, .placed = T0 + 20 * DAY};
  check(shop_Order_range_by_customer(txn, &lo, &hi, PB_SCAN_HI_INCL, &cur),
        "range");
  while ((rc = shop_Order_next(cur, &o)) == PB_OK) print_order(txn, &o);
  check_end(rc, "next");
  shop_Order_cursor_close(cur);

  shop_Customer c;
  shop_Customer_cursor *cc;
  check(shop_Customer_find_by_email(txn, pb_str_from_cstr("grace@example.com"),
                                    &cc),
        "find by email");
  check(shop_Customer_next(cc, &c), "next");
  printf("grace@example.com is customer %" PRIu64 "\n", c.id);
  shop_Customer_cursor_close(cc);
  pb_txn_abort(txn);

  /* A second customer with a taken email: the unique index refuses it. */
  check(pb_txn_begin(db, 0, &txn), "begin");
  shop_Customer_init(&c);
  c.id = 4;
  c.name = pb_str_from_cstr("Impostor");
  c.email = pb_str_from_cstr("ada@example.com");
  rc = shop_Customer_insert(txn, &c);
  printf("a fourth customer with ada's email: %s\n", pb_errname(rc));
  pb_txn_abort(txn);

  uint64_t id;
  check(pb_txn_run(db, add_order, &id, PB_TXN_RUN_RETRIES), "add order");
  check(pb_txn_begin(db, PB_RDONLY, &txn), "begin");
  check(shop_Order_get(txn, id, &o), "get");
  printf("added:\n");
  print_order(txn, &o);
  check(shop_Order_count(txn, &n), "count");
  check(pb_table_check(txn, &shop_Order_table), "check orders");
  check(pb_table_check(txn, &shop_Customer_table), "check customers");
  printf("%" PRIu64 " orders; tables and indexes check out\n", n);
  pb_txn_abort(txn);

  pb_db_close(db);
  check(pb_space_close(sp), "close");
  return 0;
}
