/**
 * Instacart baskets (docs/EFA.md 3.2) as `instacart/data_prep.ipynb` and
 * `instacart/*_efa.ipynb` prepare them.
 *
 * From the authors' processed files (`data_train_final.csv`,
 * `data_test_final.csv`: order_id, product_id 1..63, rank): baskets are the
 * orders' products in file order, orders sorted by id (`groupby("order_id")`);
 * 25% of the training baskets are held out for validation
 * (`train_test_split(test_size=0.25, random_state=42)`).
 *
 * From the raw Kaggle files ({@link preprocessKaggle}): keep products seen in
 * at least 50,000 order rows of prior + train, keep orders with at least 10 of
 * them, rank the kept rows by `add_to_cart_order` (dense rank), and recode
 * product ids 1..63 in order of first appearance (train rows, then test rows).
 */
import type { Sequences } from "../mod.ts";
import { trainTestSplit } from "../lib/numpy_random.ts";
import { numberColumn, parseTable, stringColumn } from "../lib/_csv.ts";
import { countTargets, type PreparedDataset, selectSequences } from "./prepared.ts";

/** One row of a processed file. */
export interface BasketRow {
  /** Kaggle order id. */
  readonly order: number;
  /** Product id (1..63 in the processed files, Kaggle ids in the raw ones). */
  readonly product: number;
  /** Position in the basket (dense rank of `add_to_cart_order`, from 1). */
  readonly rank: number;
}

/** Parses `data_train_final.csv` / `data_test_final.csv`. */
export function parseProcessed(text: string, file: string): BasketRow[] {
  const table = parseTable(text, { file, required: ["order_id", "product_id", "rank"] });
  const order = numberColumn(table, "order_id", { integer: true });
  const product = numberColumn(table, "product_id", { integer: true });
  const rank = numberColumn(table, "rank", { integer: true });
  return Array.from(order, (o, i) => ({ order: o, product: product[i]!, rank: rank[i]! }));
}

/** Baskets of product ids, orders sorted by id, products in row order (pandas `groupby(...).apply(list)`). */
export function basketsOf(rows: readonly BasketRow[]): { orders: number[]; baskets: number[][] } {
  const byOrder = new Map<number, number[]>();
  for (const r of rows) {
    const list = byOrder.get(r.order) ?? [];
    list.push(r.product);
    byOrder.set(r.order, list);
  }
  const orders = [...byOrder.keys()].sort((a, b) => a - b);
  return { orders, baskets: orders.map((o) => byOrder.get(o)!) };
}

/** The product id map: processed id (1..63) to Kaggle product id. */
export function parseProductIdMap(text: string, file: string): number[] {
  const table = parseTable(text, { file, required: ["efa_product_id", "kaggle_product_id"] });
  const efa = numberColumn(table, "efa_product_id", { integer: true });
  const kaggle = numberColumn(table, "kaggle_product_id", { integer: true });
  const map: number[] = [0];
  efa.forEach((id, i) => (map[id] = kaggle[i]!));
  return map;
}

/** Product names by Kaggle id, from Kaggle's `products.csv`. */
export function parseProductNames(text: string, file: string): Map<number, string> {
  const table = parseTable(text, { file, required: ["product_id", "product_name"] });
  const ids = numberColumn(table, "product_id", { integer: true });
  const names = stringColumn(table, "product_name");
  return new Map(Array.from(ids, (id, i) => [id, names[i]!]));
}

/** The prepared Instacart data set from the processed files. */
export function prepareInstacart(
  trainRows: readonly BasketRow[],
  testRows: readonly BasketRow[],
  names?: { idMap: readonly number[]; products: ReadonlyMap<number, string> },
): PreparedDataset {
  const train = basketsOf(trainRows);
  const test = basketsOf(testRows);
  const trainSeq: Sequences = { items: train.baskets };
  const split = trainTestSplit(train.baskets.length, { testSize: 0.25, randomState: 42 });
  const fit = selectSequences(trainSeq, split.train);
  const validation = selectSequences(trainSeq, split.test);
  const products = new Set([...trainRows, ...testRows].map((r) => r.product));
  const lengths = [...train.baskets, ...test.baskets].map((b) => b.length);
  const itemNames = names === undefined ? undefined : names.idMap.map((kaggle, id) => {
    if (id === 0) return "";
    const name = names.products.get(kaggle);
    if (name === undefined) {
      throw new RangeError(`products.csv: no product with id ${kaggle} (item ${id} of the id map)`);
    }
    return name;
  });
  return {
    name: "instacart",
    numItems: products.size,
    maxLength: Math.max(...lengths),
    fit,
    validation,
    test: { items: test.baskets },
    ...(itemNames === undefined ? {} : { itemNames }),
    stats: {
      products: products.size,
      train_orders: train.orders.length,
      train_rows: trainRows.length,
      test_orders: test.orders.length,
      test_rows: testRows.length,
      min_length: Math.min(...lengths),
      max_length: Math.max(...lengths),
      fit_baskets: fit.items.length,
      val_baskets: validation.items.length,
      fit_predictions: countTargets(fit),
      val_predictions: countTargets(validation),
      test_predictions: countTargets({ items: test.baskets }),
    },
  };
}

/** One row of Kaggle's `order_products__*.csv`. */
export interface OrderProductRow {
  /** Order id. */
  readonly order: number;
  /** Kaggle product id. */
  readonly product: number;
  /** Position in which the product was added to the cart (from 1). */
  readonly addToCartOrder: number;
}

/** Parses Kaggle's `order_products__prior.csv` / `order_products__train.csv`. */
export function parseOrderProducts(text: string, file: string): OrderProductRow[] {
  const table = parseTable(text, {
    file,
    required: ["order_id", "product_id", "add_to_cart_order"],
  });
  const order = numberColumn(table, "order_id", { integer: true });
  const product = numberColumn(table, "product_id", { integer: true });
  const position = numberColumn(table, "add_to_cart_order", { integer: true });
  return Array.from(
    order,
    (o, i) => ({ order: o, product: product[i]!, addToCartOrder: position[i]! }),
  );
}

/** Options of {@link preprocessKaggle}. */
export interface KaggleOptions {
  /** Keep products with at least this many order rows in prior + train (default 50,000). */
  readonly minOccurrences?: number;
  /** Keep orders with at least this many kept products (default 10). */
  readonly minBasket?: number;
  /** Use this product set instead of counting (for partial files such as the head samples). */
  readonly products?: ReadonlySet<number>;
  /** Use this Kaggle-id to 1..63 map instead of first appearance (for partial files). */
  readonly idMap?: ReadonlyMap<number, number>;
}

/**
 * The paper's preprocessing (`data_prep.ipynb`) from Kaggle's
 * `order_products__prior.csv` (train) and `order_products__train.csv` (test).
 */
export function preprocessKaggle(
  prior: readonly OrderProductRow[],
  trainOrders: readonly OrderProductRow[],
  options: KaggleOptions = {},
): { train: BasketRow[]; test: BasketRow[]; idMap: Map<number, number> } {
  let products = options.products;
  if (products === undefined) {
    const counts = new Map<number, number>();
    for (const r of [...prior, ...trainOrders]) {
      counts.set(r.product, (counts.get(r.product) ?? 0) + 1);
    }
    const min = options.minOccurrences ?? 50_000;
    products = new Set([...counts].filter(([, n]) => n >= min).map(([p]) => p));
  }
  const minBasket = options.minBasket ?? 10;
  const finalRows = (rows: readonly OrderProductRow[]): OrderProductRow[] => {
    const kept = rows.filter((r) => products!.has(r.product));
    const sizes = new Map<number, number>();
    for (const r of kept) sizes.set(r.order, (sizes.get(r.order) ?? 0) + 1);
    return kept.filter((r) => sizes.get(r.order)! >= minBasket);
  };
  const rank = (rows: readonly OrderProductRow[]): Map<OrderProductRow, number> => {
    const positions = new Map<number, number[]>();
    for (const r of rows) {
      (positions.get(r.order) ?? positions.set(r.order, []).get(r.order)!).push(r.addToCartOrder);
    }
    const dense = new Map<number, Map<number, number>>();
    for (const [order, list] of positions) {
      const distinct = [...new Set(list)].sort((a, b) => a - b);
      dense.set(order, new Map(distinct.map((v, i) => [v, i + 1])));
    }
    return new Map(rows.map((r) => [r, dense.get(r.order)!.get(r.addToCartOrder)!]));
  };
  const train = finalRows(prior);
  const test = finalRows(trainOrders);
  const idMap = new Map(options.idMap ?? []);
  if (options.idMap === undefined) {
    for (const r of [...train, ...test]) {
      if (!idMap.has(r.product)) idMap.set(r.product, idMap.size + 1);
    }
  }
  const recode = (rows: OrderProductRow[]): BasketRow[] => {
    const ranks = rank(rows);
    return rows.map((r) => ({
      order: r.order,
      product: idMap.get(r.product)!,
      rank: ranks.get(r)!,
    }));
  };
  return { train: recode(train), test: recode(test), idMap };
}
