"""
The Solver: trains a classification model with minibatch gradient descent.
"""
import copy
import inspect
import os
import pickle
import tempfile

import numpy as np

from nnl import optim


class Solver(object):
    """
    A Solver encapsulates all the logic necessary for training classification
    models. The Solver performs stochastic gradient descent using different
    update rules defined in nnl/optim.py.

    The solver accepts both training and validation data and labels so it can
    periodically check classification accuracy on both training and validation
    data to watch out for overfitting.

    To train a model, you will first construct a Solver instance, passing the
    model, dataset, and various options (learning rate, batch size, etc) to the
    constructor. You will then call the train() method to run the optimization
    procedure and train the model.

    After the train() method returns, model.params will contain the parameters
    that performed best on the validation set over the course of training.
    In addition, the instance variable solver.loss_history will contain a list
    of all losses encountered during training and the instance variables
    solver.train_acc_history and solver.val_acc_history will be lists of the
    accuracies of the model on the training and validation set before training
    and at the end of each epoch (num_epochs + 1 values).

    Minibatches and accuracy subsamples are drawn with np.random: call
    np.random.seed(...) before train() to make a run repeatable.

    Example usage might look something like this:

    data = get_CIFAR10_data()  # X_train, y_train, X_val, y_val, ...
    model = ThreeLayerConvNet(hidden_dim=100, reg=0.001)
    solver = Solver(model, data,
                    update_rule='adam',
                    optim_config={
                        'learning_rate': 1e-3,
                    },
                    lr_decay=0.95,
                    num_epochs=5, batch_size=50,
                    print_every=100)
    solver.train()

    A Solver works on a model object that must conform to the following API:

    - model.params must be a dictionary mapping string parameter names to numpy
        arrays containing parameter values.

    - model.loss(X, y) must be a function that computes training-time loss and
        gradients, and test-time classification scores, with the following
        inputs and outputs:

        Inputs:
        - X: Array giving a minibatch of input data of shape (N, d_1, ..., d_k)
        - y: Array of labels, of shape (N,) giving labels for X where y[i] is
            the label for X[i].

        Returns:
        If y is None, run a test-time forward pass and return:
        - scores: Array of shape (N, C) giving classification scores for X
            where scores[i, c] gives the score of class c for X[i].

        If y is not None, run a training time forward and backward pass and
        return a tuple of:
        - loss: Scalar giving the loss
        - grads: Dictionary with the same keys as self.params mapping parameter
            names to gradients of the loss with respect to those parameters.
    """

    def __init__(self, model, data, **kwargs):
        """
        Construct a new Solver instance.

        Required arguments:
        - model: A model object conforming to the API described above
        - data: A dictionary of training and validation data with the keys:
            'X_train': Array of shape (N_train, d_1, ..., d_k) of training images
            'y_train': Array of shape (N_train,) of labels for training images
            'X_val': Array of shape (N_val, d_1, ..., d_k) of validation images
            'y_val': Array of shape (N_val,) of labels for validation images
            Other keys (X_test, y_test) are ignored.

        Optional arguments:
        - update_rule: A string giving the name of an update rule in
            nnl/optim.py. Default is 'sgd'.
        - optim_config: A dictionary containing hyperparameters that will be
            passed to the chosen update rule. Each update rule requires different
            hyperparameters (see optim.py) but all update rules require a
            'learning_rate' parameter so that should always be present. Every
            parameter of the model gets its own copy.
        - lr_decay: A scalar for learning rate decay; after each epoch the
            learning rate is multiplied by this value.
        - batch_size: Size of minibatches used to compute loss and gradient
            during training.
        - num_epochs: The number of epochs to run for during training.
        - num_train_samples: Number of training samples used to check training
            accuracy; default is 1000; set to None to use entire training set.
        - num_val_samples: Number of validation samples to use to check val
            accuracy; default is None, which uses the entire validation set.
        - checkpoint_name: If not None, then save model checkpoints to
            '<checkpoint_name>_epoch_<epoch>.pkl' at the end of every epoch.
        - print_every: Integer; training losses will be printed every
            print_every iterations.
        - verbose: Boolean; if set to false then no output will be printed
            during training.
        """
        self.model = model
        for key in ('X_train', 'y_train', 'X_val', 'y_val'):
            if key not in data:
                raise ValueError('data is missing %r (it has: %s)' % (key, ', '.join(sorted(data))))
        self.X_train = data['X_train']
        self.y_train = data['y_train']
        self.X_val = data['X_val']
        self.y_val = data['y_val']
        for X_name, y_name in (('X_train', 'y_train'), ('X_val', 'y_val')):
            if data[X_name].shape[0] != data[y_name].shape[0]:
                raise ValueError('%s has %d rows but %s has %d labels'
                                 % (X_name, data[X_name].shape[0], y_name, data[y_name].shape[0]))

        # Unpack keyword arguments
        self.update_rule_name = kwargs.pop('update_rule', 'sgd')
        self.optim_config = kwargs.pop('optim_config', {})
        self.lr_decay = kwargs.pop('lr_decay', 1.0)
        self.batch_size = kwargs.pop('batch_size', 100)
        self.num_epochs = kwargs.pop('num_epochs', 10)
        self.num_train_samples = kwargs.pop('num_train_samples', 1000)
        self.num_val_samples = kwargs.pop('num_val_samples', None)

        self.checkpoint_name = kwargs.pop('checkpoint_name', None)
        self.print_every = kwargs.pop('print_every', 10)
        self.verbose = kwargs.pop('verbose', True)

        # Throw an error if there are extra keyword arguments
        if len(kwargs) > 0:
            extra = ', '.join('"%s"' % k for k in kwargs)
            raise ValueError('Unrecognized arguments %s' % extra)

        if self.batch_size < 1 or self.num_epochs < 0 or self.print_every < 1:
            raise ValueError('batch_size and print_every should be >= 1 and num_epochs >= 0, '
                             'got %r, %r and %r' % (self.batch_size, self.print_every, self.num_epochs))
        if self.checkpoint_name is not None:
            folder = os.path.dirname(os.path.abspath(self.checkpoint_name))
            if not os.path.isdir(folder):
                raise ValueError('checkpoint_name %r: the folder %s does not exist'
                                 % (self.checkpoint_name, folder))

        # Make sure the update rule exists, then replace the string
        # name with the actual function
        rules = update_rule_names()
        if self.update_rule_name not in rules:
            raise ValueError('Invalid update_rule "%s": nnl/optim.py defines %s'
                             % (self.update_rule_name, ', '.join(rules)))
        self.update_rule = getattr(optim, self.update_rule_name)

        self._reset()

    def _reset(self):
        """
        Set up some book-keeping variables for optimization. Don't call this
        manually.
        """
        # Set up some variables for book-keeping
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []

        # Make a deep copy of the optim_config for each parameter
        self.optim_configs = {}
        for p in self.model.params:
            self.optim_configs[p] = copy.deepcopy(self.optim_config)

    def _step(self):
        """
        Make a single gradient update. This is called by train() and should not
        be called manually.
        """
        # Make a minibatch of training data
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)  # (batch_size,)
        X_batch = self.X_train[batch_mask]  # (batch_size, d_1, ..., d_k)
        y_batch = self.y_train[batch_mask]  # (batch_size,)

        # Compute loss and gradient
        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(float(loss))

        # Perform a parameter update
        for p, w in self.model.params.items():
            dw = grads[p]
            config = self.optim_configs[p]
            next_w, next_config = self.update_rule(w, dw, config)
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config

    def _decay_learning_rates(self):
        """
        Multiply the learning rate of every parameter by lr_decay.
        """
        for p, config in self.optim_configs.items():
            if 'learning_rate' not in config:
                raise ValueError(
                    'cannot apply lr_decay: the config of %r has no learning_rate; '
                    'update rule %s should store it (config.setdefault)'
                    % (p, self.update_rule_name))
            config['learning_rate'] *= self.lr_decay

    def _save_checkpoint(self):
        """
        Pickle the model and the training history to
        '<checkpoint_name>_epoch_<epoch>.pkl'. The file is written under a
        temporary name and renamed, so it is never seen half-written.
        """
        if self.checkpoint_name is None:
            return
        checkpoint = {
            'model': self.model,
            'update_rule': self.update_rule_name,
            'lr_decay': self.lr_decay,
            'optim_config': self.optim_config,
            'batch_size': self.batch_size,
            'num_train_samples': self.num_train_samples,
            'num_val_samples': self.num_val_samples,
            'epoch': self.epoch,
            'loss_history': self.loss_history,
            'train_acc_history': self.train_acc_history,
            'val_acc_history': self.val_acc_history,
            'best_val_acc': self.best_val_acc,
        }
        filename = '%s_epoch_%d.pkl' % (self.checkpoint_name, self.epoch)
        if self.verbose:
            print('Saving checkpoint to "%s"' % filename)
        folder, basename = os.path.split(os.path.abspath(filename))
        fd, tmp_name = tempfile.mkstemp(prefix='.' + basename + '.', suffix='.tmp', dir=folder)
        try:
            with os.fdopen(fd, 'wb') as f:
                pickle.dump(checkpoint, f)
            os.replace(tmp_name, filename)
        except BaseException:
            os.remove(tmp_name)
            raise

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """
        Check accuracy of the model on the provided data.

        Inputs:
        - X: Array of data, of shape (N, d_1, ..., d_k)
        - y: Array of labels, of shape (N,)
        - num_samples: If not None, subsample the data (without repetition) and
            only test the model on num_samples datapoints.
        - batch_size: Split X and y into batches of this size to avoid using
            too much memory.

        Returns:
        - acc: Scalar giving the fraction of instances that were correctly
            classified by the model.
        """
        # Maybe subsample the data
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples, replace=False)  # (num_samples,)
            N = num_samples
            X = X[mask]  # (num_samples, d_1, ..., d_k)
            y = y[mask]  # (num_samples,)
        if N == 0:
            raise ValueError('check_accuracy needs at least one example, got none')

        # Compute predictions in batches
        y_pred = []
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start:start + batch_size])  # (batch, C)
            y_pred.append(np.argmax(scores, axis=1))
        y_pred = np.hstack(y_pred)  # (N,)
        acc = float(np.mean(y_pred == y))

        return acc

    def _record_accuracy(self):
        """
        Check train and val accuracy, print them, and keep a copy of the
        parameters if they are the best so far on the validation set.
        """
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val,
                                      num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)

        if self.verbose:
            print('(Epoch %d / %d) train acc: %f; val_acc: %f'
                  % (self.epoch, self.num_epochs, train_acc, val_acc))

        # Keep track of the best model (the first check always counts)
        if not self.best_params or val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {}
            for k, v in self.model.params.items():
                self.best_params[k] = v.copy()

    def train(self):
        """
        Run optimization to train the model: num_epochs epochs of
        max(N_train // batch_size, 1) iterations each. Accuracies are checked
        before the first iteration and at the end of every epoch; at the end
        the model gets the parameters with the best validation accuracy.
        """
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        if not self.val_acc_history:
            self._record_accuracy()  # epoch 0: the initial parameters

        for t in range(num_iterations):
            self._step()

            # Maybe print training loss
            if self.verbose and t % self.print_every == 0:
                print('(Iteration %d / %d) loss: %f'
                      % (t + 1, num_iterations, self.loss_history[-1]))

            # At the end of every epoch, increment the epoch counter, decay
            # the learning rate, check the accuracies and save a checkpoint.
            if (t + 1) % iterations_per_epoch == 0:
                self.epoch += 1
                self._decay_learning_rates()
                self._record_accuracy()
                self._save_checkpoint()

        # At the end of training swap the best params into the model
        self.model.params = {k: v.copy() for k, v in self.best_params.items()}


def update_rule_names():
    """
    Names of the update rules defined in nnl/optim.py.

    Returns:
    - names: Sorted list of the public function names of nnl.optim
    """
    return sorted(name for name, f in inspect.getmembers(optim, inspect.isfunction)
                  if f.__module__ == optim.__name__ and not name.startswith('_'))
