package dev.dino4j.train;

import dev.dino4j.config.CpuFeatures;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.DinoHead;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Params;
import dev.dino4j.model.VisionTransformer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.op.math.Mean;
import org.tensorflow.op.core.Sum;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;

/**
 * The whole DINO training step as one TensorFlow graph.
 *
 * <pre>
 *   globals [2B,G,G,3] --student ViT--+                      +--teacher ViT-- globals
 *   locals [nB,L,L,3]  --student ViT--+--> head -> s [V*B,K]  t [2B,K] <-- head
 *   loss = mean over pairs (teacher view i, student view v != i) of CE(softmax((t_i - c)/tau), softmax(s_v/0.1))
 *   step = gradients (student only) -> gate -> AdamW -> EMA teacher; center after the loss; counter last
 * </pre>
 *
 * Variables live under {@code student/}, {@code teacher/} (official state_dict names), {@code
 * optimizer/} and {@code dino/} (center, step counter). Everything scheduled is fed per step.
 *
 * <p>On a {@link Cluster} of N workers each worker's graph sees its B/N samples of the global
 * batch B, and one all-reduce (mean over workers) between the gradients and the gate carries the
 * gradients, the teacher's batch mean for the center, the loss terms and the stop flag. The loss
 * is a mean over samples of per-sample terms, so the mean of the N shards' gradients is the
 * full-batch gradient: clipping, AdamW, EMA and the center then do exactly the 1-worker math, on
 * every worker alike.
 */
public final class DinoGraph {

  // ---- inputs (fed each step) ----
  public final Placeholder<TFloat32> globals; // [2B, G, G, 3], view-major
  public final Placeholder<TFloat32> locals; // [nLocal*B, L, L, 3], view-major; null if no local crops
  public final Placeholder<TFloat32> lr;
  public final Placeholder<TFloat32> weightDecay;
  public final Placeholder<TFloat32> momentum; // teacher EMA momentum
  public final Placeholder<TFloat32> teacherTemp;
  public final Placeholder<TBool> freezeLastLayer;
  public final Placeholder<TInt64> seed; // [2], stateless drop-path seed for this step
  public final Operand<TFloat32> stopRequest; // 1 = this worker asks all to stop after this step (default 0)
  public final Placeholder<TFloat32> ibotMasks; // [2B, N] 1 = masked patch (fed from IbotMasks); null without iBOT

  // ---- outputs ----
  public final Operand<TFloat32> studentLogits; // [V*B, K]
  public final Operand<TFloat32> teacherLogits; // [2B, K]
  public final Operand<TFloat32> loss;
  public final Operand<TFloat32> teacherEntropy; // mean per-sample entropy of the teacher's distribution
  public final Operand<TFloat32> klDivergence; // mean KL(teacher || student) over the loss pairs
  public final Operand<TFloat32> koleo; // the KoLeo term before its weight (0 when loss.koleo_weight is 0)
  public final Operand<TFloat32> ibot; // the iBOT patch loss before its weight (0 when loss.ibot_weight is 0)
  public final List<Operand<TFloat32>> gradients; // d loss / d student trainable params, unclipped (mean over workers)
  public final Operand<TFloat32> stopAll; // > 0 when any worker asked to stop at this step
  public final Op trainStep;

  // ---- state ----
  public final Params student;
  public final Params teacher;
  public final Variable<TFloat32> center; // [1, K]
  public final Variable<TFloat32> ibotCenter; // [1, K], iBOT's patch-target center; null without iBOT
  public final Variable<TInt64> globalStep;
  public final AdamW optimizer;

  // ---- TensorBoard (summary ops) ----
  public final Placeholder<TString> summaryDir;
  public final Op openSummaries;
  public final Op writeSummaries;
  public final Op flushSummaries;
  private final Placeholder<TString> evalTag;
  private final Placeholder<TFloat32> evalValue;
  private final Op writeEvalScalar;

  private final Graph graph;
  /** Equal parts of this worker's batch, each forward/backward chain built separately (train.towers). */
  public final int towers;

  /** Whether the backbones use dino4j's fused LayerNorm and bias+GELU ops (train.kernels). */
  public final boolean fusedKernels;
  private final List<Placeholder<TFloat32>> initValues = new ArrayList<>();
  private final List<Op> initStudent = new ArrayList<>();
  private final Op initRest;
  private final VisionTransformer.Dims dims;
  private final Cluster cluster;
  private final Op copyFromChief; // null on a single worker
  private final DinoConfig.Loss lossConfig;

  /** The single-process graph. */
  public DinoGraph(Graph graph, DinoConfig cfg) {
    this(graph, cfg, Cluster.single());
  }

  /** The graph of worker {@code cluster.task()}: fed B / N samples, all-reducing the step. */
  public DinoGraph(Graph graph, DinoConfig cfg, Cluster cluster) {
    this.graph = graph;
    this.cluster = cluster;
    Ops tf = Ops.create(graph);
    DinoConfig.Augment aug = cfg.augment();
    DinoConfig.Head headCfg = cfg.head();
    dims = VisionTransformer.Dims.of(cfg.model(), aug.globalSize());
    int nLocal = aug.localCrops();
    int views = 2 + nLocal;
    int k = headCfg.outDim();

    // ---- variables first: adding ops gets slower as the graph grows ----
    DinoConfig.Loss lossCfg = cfg.loss();
    lossConfig = lossCfg;
    boolean ibotOn = lossCfg.ibot();
    List<ParamSpec> specs = new ArrayList<>(VisionTransformer.params(dims));
    specs.addAll(DinoHead.params(headCfg, dims.embedDim()));
    // iBOT's patch head: the DINO head, or one of its own (DINOv2's separate_head) with ibotK prototypes
    boolean separateHead = ibotOn && lossCfg.ibotSeparateHead();
    int ibotK = lossCfg.ibotPrototypes(headCfg);
    DinoConfig.Head ibotHead = DinoHead.ibotHead(cfg);
    if (ibotOn) { // last, so the other initial weights are those of the same run without iBOT
      specs.add(VisionTransformer.maskTokenSpec(dims));
      specs.addAll(DinoHead.ibotHeadParams(cfg));
    }
    student = Params.create(tf, "student", specs);
    teacher = Params.create(tf, "teacher", specs);
    optimizer = new AdamW(tf, student, cfg.optim());
    Ops dino = tf.withSubScope("dino");
    center = dino.withName("center").variable(Shape.of(1, k), TFloat32.class);
    globalStep = dino.withName("global_step").variable(Shape.scalar(), TInt64.class);
    Operand<TFloat32> centerRead = dino.withName("center_read").identity(center);
    ibotCenter = ibotOn ? dino.withName("ibot_center").variable(Shape.of(1, ibotK), TFloat32.class) : null;
    Operand<TFloat32> ibotCenterRead = ibotOn ? dino.withName("ibot_center_read").identity(ibotCenter) : null;
    // a copy, not an alias: the counter is overwritten in place later in the same run
    Operand<TInt64> stepRead = dino.math.add(dino.identity(globalStep), dino.constant(0L));

    // ---- inputs ----
    Ops in = tf.withSubScope("inputs");
    globals =
        in.withName("globals")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, aug.globalSize(), aug.globalSize(), 3)));
    locals =
        nLocal == 0
            ? null
            : in.withName("locals")
                .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, aug.localSize(), aug.localSize(), 3)));
    lr = in.withName("lr").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    weightDecay = in.withName("weight_decay").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    momentum = in.withName("momentum").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    teacherTemp = in.withName("teacher_temp").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    freezeLastLayer = in.withName("freeze_last_layer").placeholder(TBool.class, Placeholder.shape(Shape.scalar()));
    seed = in.withName("seed").placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
    stopRequest = in.withName("stop_request").placeholderWithDefault(in.constant(0f), Shape.scalar());
    int patches = dims.nativeGrid() * dims.nativeGrid();
    ibotMasks = ibotOn
        ? in.withName("ibot_masks").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, patches)))
        : null;

    // ---- towers: this worker's batch split into equal parts, each a chain of its own ----
    // One tower per core, each op on one thread, keeps both cores busy with big single-threaded
    // ops instead of splitting every op (small ones included) over the cores (docs/performance.md, "Performance
    // levers"). The math is the data-parallel one below: equal shards, mean of the per-shard terms.
    int localBatch = cluster.localBatch(cfg.train().batchSize());
    towers = SessionOptions.towers(cfg.train(), localBatch);
    fusedKernels = SessionOptions.fusedKernels(cfg.train(), towers);
    VisionTransformer.Kernels kernels =
        VisionTransformer.Kernels.of(fusedKernels, CpuFeatures.resolvePrecision(cfg.train().precision(), CpuFeatures.flags()));
    double[] rates = VisionTransformer.DropPath.linearRates(dims.depth(), cfg.model().dropPathRate());
    Ops lo = tf.withSubScope("loss");
    List<Operand<TFloat32>> towerLosses = new ArrayList<>();
    List<Operand<TFloat32>> towerEntropies = new ArrayList<>();
    List<Operand<TFloat32>> towerCenters = new ArrayList<>();
    List<Operand<TFloat32>> towerStudentLogits = new ArrayList<>();
    List<Operand<TFloat32>> towerTeacherLogits = new ArrayList<>();
    List<Operand<TFloat32>> towerFeatures = new ArrayList<>(); // student CLS features [V*b, D], for KoLeo
    List<Operand<TFloat32>> towerIbot = new ArrayList<>(); // iBOT: per-tower loss, teacher patch-logit sum, count
    List<Operand<TFloat32>> towerIbotSums = new ArrayList<>();
    List<Operand<TFloat32>> towerIbotCounts = new ArrayList<>();
    for (int t = 0; t < towers; t++) {
      Ops tw = towers == 1 ? tf : tf.withSubScope("tower_" + t);
      Operand<TFloat32> towerGlobals = towers == 1 ? globals : towerRows(tw, globals, 2, towers, t);
      Operand<TFloat32> towerLocals =
          nLocal == 0 || towers == 1 ? locals : towerRows(tw, locals, nLocal, towers, t);
      int shards = cluster.size() * towers;
      int shard = cluster.task() * towers + t;

      // ---- student: every view; one backbone pass per crop resolution ----
      Ops st = tw.withSubScope("student_forward");
      Ops te = tw.withSubScope("teacher_forward");
      int b = localBatch / towers;
      VisionTransformer.DropPath globalDrop = new VisionTransformer.DropPath(rates, seed, 0, 2, shards, shard);
      Operand<TFloat32> features; // [2b, D], then [V*b, D]
      Operand<TFloat32> teacherFeatures; // [2b, D]
      Operand<TFloat32> towerMasks = null; // [2b, N]
      Operand<TInt32> maskedRows = null; // [M]: view (row) of each masked patch
      Operand<TFloat32> studentPatches = null; // [M, D] the masked patches' final tokens
      Operand<TFloat32> teacherPatches = null; // [M, D] the same patches of the unmasked views
      if (ibotOn) {
        // iBOT needs the patch tokens of the masked global views only: the last block runs in full for
        // those (student and teacher), CLS-only for the other views and the locals
        towerMasks = towers == 1 ? ibotMasks : towerMaskRows(tw, ibotMasks, towers, t);
        Ops ib = tw.withSubScope("ibot_select");
        Operand<TInt32> maskedViews = ib.dtypes.cast(ib.reshape(ib.where(ib.math.greater(ib.max(towerMasks,
            ib.constant(new int[] {1})), ib.constant(0.5f))), ib.constant(new int[] {-1})), TInt32.class); // [Bm] ascending
        VisionTransformer.Output so = VisionTransformer.maskedForward(st.withSubScope("global"), student, dims,
            towerGlobals, aug.globalSize(), globalDrop, kernels, towerMasks, maskedViews);
        VisionTransformer.Output to = VisionTransformer.maskedForward(te, teacher, dims, towerGlobals,
            aug.globalSize(), null, kernels, null, maskedViews);
        features = so.cls();
        teacherFeatures = to.cls();
        Operand<TFloat32> viewMasks = ib.gather(towerMasks, maskedViews, ib.constant(0)); // [Bm, N]
        Operand<TInt64> where = ib.where(ib.math.greater(viewMasks, ib.constant(0.5f))); // [M, 2] (masked view, patch)
        Operand<TInt32> sub = ib.dtypes.cast(ib.reshape(ib.slice(where, ib.constant(new long[] {0, 0}),
            ib.constant(new long[] {-1, 1})), ib.constant(new int[] {-1})), TInt32.class); // [M] row of viewMasks
        Operand<TInt32> maskedCols = ib.dtypes.cast(ib.reshape(ib.slice(where, ib.constant(new long[] {0, 1}),
            ib.constant(new long[] {-1, 1})), ib.constant(new int[] {-1})), TInt32.class); // [M]
        // the same M rows in the same order as a where over all 2b views: the views are ascending
        maskedRows = ib.gather(maskedViews, sub, ib.constant(0)); // [M] view of each masked patch
        Operand<TInt32> flat = ib.math.add(ib.math.mul(sub, ib.constant(patches)), maskedCols); // [M]
        studentPatches = ib.gather(patchRows(ib, so.tokens(), dims, patches), flat, ib.constant(0)); // [M, D]
        teacherPatches = ib.stopGradient(ib.gather(patchRows(ib, to.tokens(), dims, patches), flat, ib.constant(0)));
      } else {
        features = VisionTransformer.clsFeature(st.withSubScope("global"), student, dims, towerGlobals,
            aug.globalSize(), globalDrop, kernels); // [2b, D]
        teacherFeatures = VisionTransformer.clsFeature(te, teacher, dims, towerGlobals, aug.globalSize(), null,
            kernels); // [2b, D]
      }
      if (nLocal > 0) {
        Operand<TFloat32> localFeatures =
            VisionTransformer.clsFeature(st.withSubScope("local"), student, dims, towerLocals, aug.localSize(),
                new VisionTransformer.DropPath(rates, seed, 1, nLocal, shards, shard), kernels); // [nb, D]
        features = st.concat(List.of(features, localFeatures), st.constant(0)); // [V*b, D]
      }
      Operand<TFloat32> s;
      Operand<TFloat32> t2;
      if (ibotOn) {
        Operand<TFloat32> sp; // [M, K'] student logits at the masked patches
        Operand<TFloat32> tp; // [M, K'] teacher logits there
        if (separateHead) {
          s = DinoHead.forward(st.withSubScope("head"), student, headCfg, features); // [V*b, K]
          sp = DinoHead.forward(st.withSubScope("ibot_head"), student, DinoHead.IBOT_PREFIX, ibotHead, studentPatches);
          t2 = te.stopGradient(DinoHead.forward(te.withSubScope("head"), teacher, headCfg, teacherFeatures)); // [2b, K]
          tp = te.stopGradient(DinoHead.forward(te.withSubScope("ibot_head"), teacher, DinoHead.IBOT_PREFIX, ibotHead,
              teacherPatches));
        } else {
          // one head pass over the CLS features and the masked patches (the shared head, as DINOv2's default)
          Operand<TFloat32> both = DinoHead.forward(st.withSubScope("head"), student, headCfg,
              st.concat(List.of(features, studentPatches), st.constant(0))); // [V*b + M, K]
          s = st.slice(both, st.constant(new int[] {0, 0}), st.constant(new int[] {views * b, -1})); // [V*b, K]
          sp = st.slice(both, st.constant(new int[] {views * b, 0}), st.constant(new int[] {-1, -1})); // [M, K]
          Operand<TFloat32> bothT = te.stopGradient(DinoHead.forward(te.withSubScope("head"), teacher, headCfg,
              te.concat(List.of(teacherFeatures, teacherPatches), te.constant(0)))); // [2b + M, K]
          t2 = te.slice(bothT, te.constant(new int[] {0, 0}), te.constant(new int[] {2 * b, -1})); // [2b, K]
          tp = te.slice(bothT, te.constant(new int[] {2 * b, 0}), te.constant(new int[] {-1, -1})); // [M, K]
        }
        Ops il = tw.withSubScope("ibot_loss");
        Operand<TFloat32> qp = DinoLoss.centredTeacher(il, tp, ibotCenterRead, teacherTemp); // [M, K]
        Operand<TFloat32> perView = il.math.div(il.constant(1f), il.math.maximum(
            il.sum(towerMasks, il.constant(new int[] {1})), il.constant(1f))); // [2b]: 1 / masked patches
        Operand<TFloat32> weights = il.gather(perView, maskedRows, il.constant(0)); // [M]
        towerIbot.add(DinoLoss.ibot(il, sp, qp, weights, 2 * b, (float) lossCfg.studentTemp()));
        towerIbotSums.add(il.sum(tp, il.constant(new int[] {0}), Sum.keepDims(true))); // [1, K]
        towerIbotCounts.add(il.dtypes.cast(il.size(maskedRows), TFloat32.class)); // M
      } else {
        s = DinoHead.forward(st.withSubScope("head"), student, headCfg, features); // [V*b, K]
        // ---- teacher: only the 2 global views, no stochastic depth, no gradient ----
        t2 = te.stopGradient(DinoHead.forward(te.withSubScope("head"), teacher, headCfg, teacherFeatures)); // [2b, K]
      }
      towerStudentLogits.add(s);
      towerTeacherLogits.add(t2);
      towerFeatures.add(features);
      // batch statistic for the center, from this step's teacher logits (before any update)
      towerCenters.add(
          dino.math.div(
              dino.sum(t2, dino.constant(new int[] {0}), Sum.keepDims(true)),
              dino.dtypes.cast(
                  dino.slice(dino.shape(t2), dino.constant(new int[] {0}), dino.constant(new int[] {1})),
                  TFloat32.class))); // [1, K]
    }

    // ---- the teacher's probabilities: the OLD center (DINO), or Sinkhorn-Knopp over the whole batch (DINOv2) ----
    boolean sinkhorn = lossCfg.centering().equals("sinkhorn");
    List<Operand<TFloat32>> towerQ = new ArrayList<>();
    if (sinkhorn) {
      // every row of this worker's batch (all towers, tower-major: the normalisation does not care about
      // row order), then each tower takes its own rows back
      Ops sk = lo.withSubScope("sinkhorn");
      Operand<TFloat32> all = towers == 1 ? towerTeacherLogits.get(0)
          : sk.concat(towerTeacherLogits, sk.constant(0)); // [2B, K]
      Operand<TFloat32> shift = DinoLoss.maxScaled(sk, all, teacherTemp);
      List<java.util.function.UnaryOperator<Operand<TFloat32>>> sums = new ArrayList<>();
      for (int i = 0; i <= lossCfg.sinkhornIterations(); i++) {
        int key = AllReduce.SINKHORN_SUMS + i;
        sums.add(cluster.distributed()
            ? x -> AllReduce.reduce(sk, cluster, x, key, "Id", cluster.collectiveTimeoutSeconds())
            : x -> x);
      }
      if (cluster.distributed()) {
        shift = AllReduce.reduce(sk, cluster, shift, AllReduce.SINKHORN_MAX, "Max", "Id", cluster.collectiveTimeoutSeconds());
      }
      Operand<TFloat32> q = DinoLoss.sinkhornTeacher(sk, all, teacherTemp, lossCfg.sinkhornIterations(),
          cluster.size(), shift, sums); // [2B, K]
      int rows = 2 * localBatch / towers;
      for (int t = 0; t < towers; t++) {
        towerQ.add(towers == 1 ? q
            : sk.slice(q, sk.constant(new int[] {t * rows, 0}), sk.constant(new int[] {rows, -1}))); // [2b, K]
      }
    } else {
      for (int t = 0; t < towers; t++) {
        Ops tl = towers == 1 ? lo : lo.withSubScope("tower_" + t);
        towerQ.add(DinoLoss.centredTeacher(tl, towerTeacherLogits.get(t), centerRead, teacherTemp)); // [2b, K]
      }
    }
    for (int t = 0; t < towers; t++) {
      DinoLoss.Terms terms =
          DinoLoss.build(towers == 1 ? lo : lo.withSubScope("tower_" + t), towerStudentLogits.get(t), towerQ.get(t),
              (float) lossCfg.studentTemp(), views, k);
      towerLosses.add(terms.loss());
      towerEntropies.add(terms.teacherEntropy());
    }
    Operand<TFloat32> localLoss = towerMean(lo, towerLosses, "tower_mean");
    // ---- KoLeo (DINOv2): per global view over this worker's whole batch (every tower), summed over both views ----
    Operand<TFloat32> localKoleo = lo.constant(0f);
    Operand<TFloat32> objective = localLoss;
    if (lossCfg.koleoWeight() > 0) {
      Ops kl = lo.withSubScope("koleo");
      int b = localBatch / towers;
      List<Operand<TFloat32>> perView = new ArrayList<>();
      for (int v = 0; v < 2; v++) {
        List<Operand<TFloat32>> rowsOfView = new ArrayList<>();
        for (Operand<TFloat32> f : towerFeatures) {
          rowsOfView.add(kl.slice(f, kl.constant(new int[] {v * b, 0}), kl.constant(new int[] {b, -1}))); // [b, D]
        }
        Operand<TFloat32> x = rowsOfView.size() == 1 ? rowsOfView.get(0) : kl.concat(rowsOfView, kl.constant(0)); // [B, D]
        perView.add(DinoLoss.koleo(kl, x));
      }
      localKoleo = kl.withName("value").math.add(perView.get(0), perView.get(1));
      objective = kl.withName("objective").math.add(localLoss,
          kl.math.mul(localKoleo, kl.constant((float) lossCfg.koleoWeight())));
    }
    // ---- iBOT (DINOv2): the towers' patch losses (each over its 2b views: equal shards, so their mean), and the
    // teacher's masked-patch logits pooled for the center (sums and counts, so uneven masks weigh right) ----
    Operand<TFloat32> localIbot = lo.constant(0f);
    Operand<TFloat32> localIbotSum = null;
    Operand<TFloat32> localIbotCount = null;
    if (ibotOn) {
      Ops il = lo.withSubScope("ibot");
      localIbot = towerMean(il, towerIbot, "tower_mean");
      localIbotSum = towerIbotSums.size() == 1 ? towerIbotSums.get(0) : il.math.addN(towerIbotSums); // [1, K]
      localIbotCount = towerIbotCounts.size() == 1 ? towerIbotCounts.get(0) : il.math.addN(towerIbotCounts);
      objective = il.withName("objective").math.add(objective,
          il.math.mul(localIbot, il.constant((float) lossCfg.ibotWeight())));
    }
    Operand<TFloat32> localEntropy = towerMean(lo, towerEntropies, "tower_mean_entropy");
    Operand<TFloat32> localCenter = towerMean(dino, towerCenters, "tower_mean_center");
    studentLogits = towerConcat(tf, "student_forward", towerStudentLogits, views, k);
    teacherLogits = towerConcat(tf, "teacher_forward", towerTeacherLogits, 2, k);

    // ---- gradients for the student's trainable parameters only ----
    // (of the towers' mean: each tower's backward is again a chain of its own; they meet in the
    // per-parameter sums)
    List<Params.Param> trainable = optimizer.trainable();
    List<Operand<?>> xs = new ArrayList<>();
    for (Params.Param p : trainable) {
      xs.add(p.value());
    }
    var grads = tf.gradients(objective, xs);
    List<Operand<TFloat32>> localGradients = new ArrayList<>();
    for (int i = 0; i < trainable.size(); i++) {
      localGradients.add(grads.<TFloat32>dy(i));
    }

    // ---- across workers: the mean of every shard's gradients and statistics (equal shards) ----
    Operand<TFloat32> batchCenter;
    Operand<TFloat32> ibotSum = localIbotSum; // [1, K] (a mean over workers when distributed: the ratio is the same)
    Operand<TFloat32> ibotCount = localIbotCount;
    if (cluster.distributed()) {
      List<Operand<TFloat32>> local = new ArrayList<>(localGradients);
      List<Shape> shapes = new ArrayList<>();
      for (Params.Param p : trainable) {
        shapes.add(Shape.of(p.spec().shape()));
      }
      local.addAll(List.of(localCenter, localLoss, localEntropy, stopRequest, localKoleo, localIbot));
      shapes.addAll(List.of(Shape.of(1, k), Shape.scalar(), Shape.scalar(), Shape.scalar(), Shape.scalar(),
          Shape.scalar()));
      if (ibotOn) {
        local.addAll(List.of(localIbotSum, localIbotCount));
        shapes.addAll(List.of(Shape.of(1, ibotK), Shape.scalar()));
      }
      List<Operand<TFloat32>> mean =
          AllReduce.mean(tf.withSubScope("all_reduce"), cluster, local, shapes, AllReduce.STEP,
              cluster.collectiveTimeoutSeconds());
      int n = trainable.size();
      gradients = new ArrayList<>(mean.subList(0, n));
      batchCenter = mean.get(n);
      loss = lo.withName("global_value").identity(mean.get(n + 1));
      teacherEntropy = lo.withName("global_teacher_entropy").identity(mean.get(n + 2));
      stopAll = mean.get(n + 3);
      koleo = lo.withName("global_koleo").identity(mean.get(n + 4));
      ibot = lo.withName("global_ibot").identity(mean.get(n + 5));
      if (ibotOn) {
        ibotSum = mean.get(n + 6);
        ibotCount = mean.get(n + 7);
      }
    } else {
      gradients = localGradients;
      batchCenter = localCenter;
      loss = localLoss;
      teacherEntropy = localEntropy;
      stopAll = tf.withSubScope("dino").withName("stop_all").identity(stopRequest);
      koleo = localKoleo;
      ibot = localIbot;
    }
    klDivergence = lo.withName("kl").math.sub(loss, teacherEntropy);

    // ---- the step, in order ----
    // 1. gate: every gradient, the loss and the center statistic exist before anything changes
    List<Op> gateDeps = new ArrayList<>(gradients);
    gateDeps.add(loss);
    gateDeps.add(batchCenter);
    gateDeps.add(teacherEntropy);
    gateDeps.add(stopAll);
    gateDeps.add(koleo);
    gateDeps.add(ibot);
    if (ibotOn) {
      gateDeps.add(ibotSum);
      gateDeps.add(ibotCount);
    }
    Op gate = tf.withControlDependencies(gateDeps).withName("gate").noOp();
    Ops gated = tf.withControlDependencies(List.of(gate));
    // 2. AdamW on the student
    Op update =
        optimizer.applyGradients(gated, gradients, lr, weightDecay, freezeLastLayer,
            cfg.optim().clipGrad(), fusedKernels);
    // 3. EMA teacher <- m teacher + (1 - m) student, reading the UPDATED student
    Op ema = Ema.build(tf.withSubScope("ema").withControlDependencies(List.of(update)), teacher, student, momentum,
        fusedKernels);
    // 4. center <- m c + (1 - m) batch mean; its old value was read by the loss (gate)
    float cm = (float) cfg.loss().centerMomentum();
    // (Sinkhorn-Knopp has no center: the variable stays as it is, so checkpoints keep one layout)
    Op centerUpdate = sinkhorn
        ? gated.withSubScope("dino").withName("center_update").noOp()
        : gated.withSubScope("dino").withName("center_update").assign(center,
            dino.math.add(dino.math.mul(centerRead, dino.constant(cm)),
                dino.math.mul(batchCenter, dino.constant(1f - cm))));
    // 4b. iBOT's center <- m c + (1 - m) mean of this step's masked teacher patch logits (kept when none was masked)
    List<Op> beforeIncrement = new ArrayList<>(List.of(ema, centerUpdate));
    if (ibotOn) {
      Ops ic = gated.withSubScope("dino");
      Operand<TFloat32> batchMean = ic.math.div(ibotSum, ic.math.maximum(ibotCount, ic.constant(1f))); // [1, K]
      Operand<TFloat32> blend = ic.math.mul(ic.constant(1f - cm), ic.math.minimum(ibotCount, ic.constant(1f)));
      beforeIncrement.add(ic.withName("ibot_center_update").assign(ibotCenter,
          ic.math.add(ibotCenterRead, ic.math.mul(blend, ic.math.sub(batchMean, ibotCenterRead)))));
    }
    // 5. the step counter, last
    Op increment =
        tf.withControlDependencies(beforeIncrement).withSubScope("dino").withName("increment")
            .assign(globalStep, dino.math.add(stepRead, dino.constant(1L)));
    trainStep = tf.withControlDependencies(List.of(increment)).withName("train_step").noOp();

    // ---- TensorBoard: summary ops writing event files ----
    Ops sm = tf.withSubScope("summaries");
    var writer = sm.summary.summaryWriter();
    summaryDir = sm.withName("logdir").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    openSummaries =
        sm.summary.createSummaryFileWriter(writer, summaryDir, sm.constant(100), sm.constant(10_000),
            sm.constant(".v2"));
    List<Op> writes = new ArrayList<>();
    String[] tags = {"train/loss", "train/lr", "train/weight_decay", "train/teacher_momentum",
        "train/teacher_temp", "train/teacher_entropy", "train/kl_teacher_student"};
    List<Operand<TFloat32>> values = List.of(loss, lr, weightDecay, momentum, teacherTemp, teacherEntropy, klDivergence);
    for (int i = 0; i < tags.length; i++) {
      writes.add(sm.summary.writeScalarSummary(writer, stepRead, sm.constant(tags[i]), values.get(i)));
    }
    if (ibotOn) {
      writes.add(sm.summary.writeScalarSummary(writer, stepRead, sm.constant("train/ibot"), ibot));
    }
    writeSummaries = sm.withControlDependencies(writes).withName("write").noOp();
    flushSummaries = sm.summary.flushSummaryWriter(writer);
    // evaluation results computed outside this graph (k-NN), written at the current step
    evalTag = sm.withName("eval_tag").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    evalValue = sm.withName("eval_value").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    writeEvalScalar = sm.summary.writeScalarSummary(writer, stepRead, evalTag, evalValue);

    // ---- initialisation: student from Java-drawn values, teacher = exact copy, state zero ----
    Ops init = tf.withSubScope("init");
    for (Params.Param p : student.all()) {
      Placeholder<TFloat32> v =
          init.placeholder(TFloat32.class, Placeholder.shape(Shape.of(p.spec().shape())));
      initValues.add(v);
      initStudent.add(init.assign(p.variable(), v));
    }
    List<Op> rest = new ArrayList<>();
    for (Params.Param p : teacher.all()) {
      rest.add(init.assign(p.variable(), student.param(p.spec().name()).value()));
    }
    rest.addAll(optimizer.initializers(init));
    rest.add(init.assign(center, init.zeros(init.constant(new long[] {1, k}), TFloat32.class)));
    if (ibotOn) {
      rest.add(init.assign(ibotCenter, init.zeros(init.constant(new long[] {1, ibotK}), TFloat32.class)));
    }
    rest.add(init.assign(globalStep, init.constant(0L)));
    initRest = init.withControlDependencies(rest).withName("rest").noOp();

    // ---- workers start identical: every variable copied from the chief (after all variables exist) ----
    copyFromChief =
        cluster.distributed()
            ? AllReduce.copyFromChief(tf.withSubScope("copy_from_chief"), graph, cluster, cluster.startupTimeoutSeconds())
            : null;
  }

  /**
   * Makes every worker's variables the chief's (a no-op on one worker). Every worker calls it once,
   * after the chief initialised or restored its variables and the others initialised theirs.
   */
  public void copyFromChief(Session session) {
    if (copyFromChief != null) {
      session.runner().addTarget(copyFromChief).run().close();
    }
  }

  public Cluster cluster() {
    return cluster;
  }

  /**
   * Fresh start: draws the student's initial weights in Java from {@code seed} (reference init),
   * copies them into the teacher and zeroes the optimizer state, center and step counter.
   */
  public void initialize(Session session, long seed) {
    List<Params.Param> params = student.all();
    List<ParamSpec> specs = new ArrayList<>();
    params.forEach(p -> specs.add(p.spec()));
    List<float[]> drawn = initialValues(specs, seed);
    for (int i = 0; i < params.size(); i++) {
      ParamSpec spec = params.get(i).spec();
      try (TFloat32 t = TFloat32.tensorOf(Shape.of(spec.shape()), DataBuffers.of(drawn.get(i), true, false))) {
        session.runner().feed(initValues.get(i), t).addTarget(initStudent.get(i)).run().close();
      }
    }
    session.runner().addTarget(initRest).run().close();
  }

  /**
   * The initial weights a fresh run with {@code seed} starts from, one array per spec in order (one
   * generator drawn through the specs in graph order): {@link #initialize} feeds them, and the
   * parity harness writes the same values for PyTorch.
   */
  public static List<float[]> initialValues(List<ParamSpec> specs, long seed) {
    Random rng = new Random(seed);
    List<float[]> out = new ArrayList<>();
    for (ParamSpec spec : specs) {
      float[] values = new float[spec.size()];
      spec.init().fill(values, rng);
      out.add(values);
    }
    return out;
  }

  /** The scalars fed to one step. {@code seed} makes the step's stochastic depth reproducible. */
  public record StepInputs(
      float lr, float weightDecay, float momentum, float teacherTemp, boolean freezeLastLayer,
      long seed, long step, boolean stopRequested) {

    public StepInputs(float lr, float weightDecay, float momentum, float teacherTemp, boolean freezeLastLayer,
        long seed, long step) {
      this(lr, weightDecay, momentum, teacherTemp, freezeLastLayer, seed, step, false);
    }
  }

  /**
   * What one step reports (on a cluster: means over all workers, identical on each). {@code stop}:
   * some worker asked to stop after this step, so all stop at the same step.
   */
  public record StepOutputs(float loss, float teacherEntropy, float kl, boolean stop, float koleo, float ibot) {}

  /**
   * Runs one training step on a batch: globals [2B, G, G, 3] and locals [nB, L, L, 3] as flat
   * NHWC arrays (B: this worker's share of the batch). With {@code summaries}, the same run also
   * writes the TensorBoard scalars.
   */
  public StepOutputs runStep(
      Session session, float[] globalViews, float[] localViews, int batchSize, StepInputs in,
      boolean summaries) {
    return runStep(session, globalViews, localViews, batchSize, in, summaries, null);
  }

  /**
   * As above; with a {@code trace} consumer the step runs with TF's full trace and hands it the
   * run's metadata (per-kernel timings: {@link StepProfile}).
   */
  public StepOutputs runStep(
      Session session, float[] globalViews, float[] localViews, int batchSize, StepInputs in,
      boolean summaries, Consumer<RunMetadata> trace) {
    int g = (int) globals.shape().get(1);
    try (TFloat32 tg = TFloat32.tensorOf(Shape.of(2L * batchSize, g, g, 3), DataBuffers.of(globalViews, true, false));
        TFloat32 tl = locals == null ? null : localTensor(localViews, batchSize);
        TFloat32 lrT = TFloat32.scalarOf(in.lr());
        TFloat32 wdT = TFloat32.scalarOf(in.weightDecay());
        TFloat32 mT = TFloat32.scalarOf(in.momentum());
        TFloat32 ttT = TFloat32.scalarOf(in.teacherTemp());
        TBool frT = TBool.scalarOf(in.freezeLastLayer());
        TInt64 seedT = TInt64.vectorOf(in.seed(), in.step());
        TFloat32 stopT = TFloat32.scalarOf(in.stopRequested() ? 1f : 0f)) {
      Session.Runner r =
          session.runner().feed(globals, tg).feed(lr, lrT).feed(weightDecay, wdT).feed(momentum, mT)
              .feed(teacherTemp, ttT).feed(freezeLastLayer, frT).feed(seed, seedT).feed(stopRequest, stopT)
              .addTarget(trainStep).fetch(loss).fetch(teacherEntropy).fetch(klDivergence).fetch(stopAll).fetch(koleo)
              .fetch(ibot);
      if (tl != null) {
        r.feed(locals, tl);
      }
      TFloat32 masks = ibotMasks == null ? null : masksTensor(in, batchSize);
      if (masks != null) {
        r.feed(ibotMasks, masks);
      }
      if (summaries) {
        r.addTarget(writeSummaries);
      }
      if (trace != null) {
        r.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
      }
      try (Result res = trace != null ? r.runAndFetchMetadata() : r.run()) {
        if (trace != null) {
          trace.accept(res.getMetadata().orElseThrow());
        }
        return new StepOutputs(
            ((TFloat32) res.get(0)).getFloat(),
            ((TFloat32) res.get(1)).getFloat(),
            ((TFloat32) res.get(2)).getFloat(),
            ((TFloat32) res.get(3)).getFloat() > 0,
            ((TFloat32) res.get(4)).getFloat(),
            ((TFloat32) res.get(5)).getFloat());
      } finally {
        if (masks != null) {
          masks.close();
        }
      }
    }
  }

  /** This worker's rows of the step's iBOT masks ({@link IbotMasks}: a function of the run seed and step). */
  private TFloat32 masksTensor(StepInputs in, int batchSize) {
    int grid = dims.nativeGrid();
    boolean[][] all = IbotMasks.forStep(lossConfig, in.seed(), in.step(), 2 * batchSize * cluster.size(), grid);
    float[] rows = IbotMasks.workerRows(all, cluster.task(), cluster.size());
    return TFloat32.tensorOf(Shape.of(2L * batchSize, (long) grid * grid), DataBuffers.of(rows, true, false));
  }

  /** Tower {@code t}'s rows of view-major masks [2b, N]: [2b / towers, N], again view-major. */
  private static Operand<TFloat32> towerMaskRows(Ops tf, Operand<TFloat32> masks, int towers, int t) {
    int n = (int) masks.shape().get(1);
    Operand<TFloat32> split = tf.reshape(masks, tf.constant(new int[] {2, towers, -1, n})); // [2, towers, b', N]
    Operand<TFloat32> mine = tf.slice(split, tf.constant(new int[] {0, t, 0, 0}), tf.constant(new int[] {-1, 1, -1, -1}));
    return tf.reshape(mine, tf.constant(new int[] {-1, n})); // [2b', N]
  }

  /** The patch rows of final tokens [B, P + N, D] (P: CLS and registers), flattened to [B * N, D]. */
  private static Operand<TFloat32> patchRows(Ops tf, Operand<TFloat32> tokens, VisionTransformer.Dims d, int n) {
    Operand<TFloat32> p = tf.slice(tokens, tf.constant(new int[] {0, d.prefixTokens(), 0}),
        tf.constant(new int[] {-1, n, -1})); // [B, N, D]
    return tf.reshape(p, tf.constant(new long[] {-1, d.embedDim()})); // [B*N, D]
  }

  private TFloat32 localTensor(float[] localViews, int batchSize) {
    int l = (int) locals.shape().get(1);
    long n = localViews.length / (3L * l * l);
    if (n % batchSize != 0) {
      throw new IllegalArgumentException("local views hold " + n + " crops, not a multiple of batch " + batchSize);
    }
    return TFloat32.tensorOf(Shape.of(n, l, l, 3), DataBuffers.of(localViews, true, false));
  }

  /** Opens the TensorBoard event writer on {@code dir}. */
  public void openSummaries(Session session, java.nio.file.Path dir) {
    try (TString d = TString.scalarOf(dir.toAbsolutePath().toString())) {
      session.runner().feed(summaryDir, d).addTarget(openSummaries).run().close();
    }
  }

  /** Writes one evaluation scalar (e.g. eval/knn_top1) to TensorBoard at the current global step. */
  public void writeEvalScalar(Session session, String tag, float value) {
    try (TString t = TString.scalarOf(tag);
        TFloat32 v = TFloat32.scalarOf(value)) {
      session.runner().feed(evalTag, t).feed(evalValue, v).addTarget(writeEvalScalar).run().close();
    }
  }

  public void flushSummaries(Session session) {
    session.runner().addTarget(flushSummaries).run().close();
  }

  public long globalStep(Session session) {
    try (Result r = session.runner().fetch(globalStep).run()) {
      return ((TInt64) r.get(0)).getLong();
    }
  }

  /**
   * Tower {@code t}'s rows of view-major {@code x} [views * b, ...]: samples [t * b / towers, (t + 1) *
   * b / towers) of each view, again view-major [views * b / towers, ...].
   */
  private static Operand<TFloat32> towerRows(Ops tf, Operand<TFloat32> x, int views, int towers, int t) {
    Operand<TInt32> rest = tf.slice(tf.shape(x), tf.constant(new int[] {1}), tf.constant(new int[] {-1})); // [H, W, C]
    Operand<TFloat32> split =
        tf.reshape(x, tf.concat(List.of(tf.constant(new int[] {views, towers, -1}), rest), tf.constant(0)));
    Operand<TFloat32> mine =
        tf.slice(split, tf.constant(new int[] {0, t, 0, 0, 0, 0}), tf.constant(new int[] {-1, 1, -1, -1, -1, -1}));
    return tf.reshape(mine, tf.concat(List.of(tf.constant(new int[] {-1}), rest), tf.constant(0)));
  }

  /** The towers' [views * b', K] logits back in the worker's view-major order [views * b, K]. */
  private static Operand<TFloat32> towerConcat(Ops ops, String scope, List<Operand<TFloat32>> parts, int views, int k) {
    if (parts.size() == 1) {
      return parts.get(0);
    }
    Ops tf = ops.withSubScope(scope);
    List<Operand<TFloat32>> byView = new ArrayList<>();
    for (Operand<TFloat32> p : parts) {
      byView.add(tf.reshape(p, tf.constant(new long[] {views, -1, k}))); // [views, b', K]
    }
    return tf.reshape(tf.concat(byView, tf.constant(1)), tf.constant(new long[] {-1, k}));
  }

  /** Mean of the towers' equal-weight terms; the one tower's term itself when there is one. */
  private static Operand<TFloat32> towerMean(Ops tf, List<Operand<TFloat32>> parts, String name) {
    if (parts.size() == 1) {
      return parts.get(0);
    }
    return tf.withName(name).math.div(tf.math.addN(parts), tf.constant((float) parts.size()));
  }

  public Graph graph() {
    return graph;
  }

  /** The loss section this graph was built with (iBOT's mask settings among them). */
  public DinoConfig.Loss lossConfig() {
    return lossConfig;
  }

  public VisionTransformer.Dims dims() {
    return dims;
  }
}
